"""Data does not outlive its purpose (issue 15, part 5): applications nobody verified expire,
and the transcripts of people whose matters are closed are purged, a configurable time later.

The worker runs :func:`purge` every few minutes (``LIFELINE_PURGES``), a bounded batch at a
time, each conversation or case in its own short transaction; ``manage.py purge`` runs it at
once. What is erased is audited by name and count, never by value. Statistics (which hold
nothing personal) and the status history of cases stay: the figures stay true.

* An application still waiting for verification ``LIFELINE_RETENTION_UNVERIFIED_DAYS`` after it
  entered that state: its personal fields are erased, it ends as lost contact
  (:func:`~lifeline.cases.workflow.case_expire`).
* A conversation with no message for ``LIFELINE_RETENTION_TRANSCRIPT_DAYS``, not with an
  operator, whose person has no open application and none closed within that time: its
  messages (photos and voice messages with them), notes and the flow's answers are
  deleted. The conversation row (channel, language, times) stays for the counts.

0 days turns a rule off.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from lifeline.audit.services import audit_record
from lifeline.cases import workflow
from lifeline.cases.models import OPEN_STATUSES, Case, CaseStatus
from lifeline.core import keystore

from .models import Conversation, ConversationStatus, FlowRun, FlowRunStatus, Message, Note

#: Cases or conversations one purge pass handles at most (the rest wait for the next pass).
BATCH = 200


def expire_unverified(now: datetime | None = None, *, limit: int = BATCH) -> int:
    days = int(settings.LIFELINE_RETENTION_UNVERIFIED_DAYS)
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    # (Not while he is still writing: a flood that holds verification back must not expire a
    # man who is talking to the bot or an operator now.)
    talking = Conversation.objects.filter(
        contact=OuterRef("requester"), last_message_at__gte=cutoff
    )
    waiting = (
        Case.objects.filter(status=CaseStatus.APPLIED)
        .filter(Q(status_changed_at__lt=cutoff) | Q(status_changed_at=None, created_at__lt=cutoff))
        .filter(~Exists(talking))
    )
    done = 0
    for case in waiting.order_by("created_at")[:limit]:
        workflow.case_expire(case=case, days=days)
        done += 1
    return done


def _alive(cutoff: datetime) -> Q:
    return (
        Q(status__in=OPEN_STATUSES) | Q(status_changed_at__gte=cutoff) | Q(created_at__gte=cutoff)
    )


def _purgeable(cutoff: datetime) -> Any:
    # His matter: the applications he opened, and one he re-identified himself for here
    # (stage 2 of an application a relative or the phone line opened).
    matter_alive = Case.objects.filter(requester=OuterRef("contact")).filter(_alive(cutoff))
    linked_alive = FlowRun.objects.filter(conversation=OuterRef("pk"), case__isnull=False).filter(
        Q(case__status__in=OPEN_STATUSES)
        | Q(case__status_changed_at__gte=cutoff)
        | Q(case__created_at__gte=cutoff)
    )
    something_kept = (
        Exists(Message.objects.filter(conversation=OuterRef("pk")))
        | Exists(Note.objects.filter(conversation=OuterRef("pk")))
        | Exists(FlowRun.objects.filter(conversation=OuterRef("pk"), state__isnull=False))
    )
    return (
        Conversation.objects.filter(
            last_message_at__lt=cutoff,
            status__in=(ConversationStatus.BOT, ConversationStatus.CLOSED),
        )
        .filter(~Exists(matter_alive))
        .filter(~Exists(linked_alive))
        .filter(something_kept)
    )


def purge_conversation(
    conversation: Conversation, *, actor: object = None, label: str, cutoff: datetime | None = None
) -> Counter[str]:
    """Delete a conversation's transcript, notes and flow answers (one transaction); audited
    with the counts. Returns the counts. (The channels' own rows — inbox, outbox — go by
    their own rules: lifeline.channels.retention.)"""
    counts: Counter[str] = Counter()
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if cutoff is not None and not _purgeable(cutoff).filter(pk=locked.pk).exists():
            return counts  # he wrote, or an operator took it, since it was chosen: it stays
        counts["messages"] = (
            Message.objects.filter(conversation=locked).delete()[1].get(Message._meta.label, 0)
        )
        counts["notes"] = Note.objects.filter(conversation=locked).delete()[0]
        counts["flow_answers"] = FlowRun.objects.filter(
            conversation=locked, state__isnull=False
        ).update(state=None, status=FlowRunStatus.CANCELLED)
        # The conversation's data key goes too: the purged transcript cannot be read from an
        # older copy of the database either. (What he writes next opens a new conversation,
        # with a key of its own; this one is locked, so nothing is written under the old key.)
        keystore.shred(locked)
        kept = +counts
        audit_record(
            actor=actor,
            actor_label=label,
            action="conversation.purged",
            object_type="conversation",
            object_id=locked.pk,
            fields=[f"{name}:{count}" for name, count in sorted(kept.items())],
        )
    return counts


def purge_transcripts(now: datetime | None = None, *, limit: int = BATCH) -> Counter[str]:
    days = int(settings.LIFELINE_RETENTION_TRANSCRIPT_DAYS)
    totals: Counter[str] = Counter()
    if days <= 0:
        return totals
    cutoff = (now or timezone.now()) - timedelta(days=days)
    for conversation in _purgeable(cutoff).order_by("last_message_at")[:limit]:
        counts = purge_conversation(conversation, label="retention", cutoff=cutoff)
        if counts:
            totals["conversations"] += 1
            totals.update(counts)
    return totals


#: A phone script (a flow run outside any conversation) left this long is abandoned.
SCRIPT_IDLE = timedelta(days=1)


def forget_scripts(now: datetime | None = None, *, limit: int = BATCH) -> int:
    """The operators' phone scripts keep the caller's answers only while they run: a script
    that ended, or was left for a day, loses them and its data key (older copies too). What
    he applied for lives on in his application."""
    now = now or timezone.now()
    done = 0
    scripts = (
        FlowRun.objects.filter(conversation__isnull=True)
        .filter(Q(data_key__isnull=False) | Q(state__isnull=False))  # and those from before keys
        .filter(~Q(status=FlowRunStatus.ACTIVE) | Q(updated_at__lt=now - SCRIPT_IDLE))
    )
    for run in scripts.order_by("updated_at")[:limit]:
        with transaction.atomic():
            locked = FlowRun.objects.select_for_update().get(pk=run.pk)
            if locked.status == FlowRunStatus.ACTIVE and locked.updated_at >= now - SCRIPT_IDLE:
                continue  # taken up again since it was chosen
            FlowRun.objects.filter(pk=locked.pk).update(
                state=None,
                status=FlowRunStatus.EXPIRED
                if locked.status == FlowRunStatus.ACTIVE
                else locked.status,
            )
            keystore.shred(locked)
            done += 1
    return done


def purge(now: datetime | None = None) -> dict[str, int]:
    """One pass of the conversations' retention rules; what it erased, by name."""
    found: Counter[str] = Counter()
    found["cases_expired"] = expire_unverified(now)
    found["phone_scripts_forgotten"] = forget_scripts(now)
    for name, count in purge_transcripts(now).items():
        found[f"transcripts_{name}" if name != "conversations" else "conversations_purged"] = count
    return {name: count for name, count in found.items() if count}
