"""The channels' own rows do not outlive their purpose (issue 15, part 5).

* Inbox events processed (or dropped: a blocked sender, discarded by a supervisor) and outbox
  messages sent (or discarded) are deleted ``LIFELINE_RETENTION_INBOX_DAYS`` later: their
  content is already purged or is in the transcript, and Telegram redelivers an update within a
  day at most (the inbox row is what makes a redelivery a no-op).
* Failed events and messages keep their encrypted content until a supervisor resolves them
  (console: failed messages), but not beyond ``LIFELINE_RETENTION_TRANSCRIPT_DAYS``.

Each rule deletes a bounded batch a pass; 0 days turns it off.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import InboundEvent, InboundStatus, OutboundMessage, OutboundStatus

#: Rows one rule deletes at most in a pass.
BATCH = 5000


def _delete(model: type, where: Q) -> int:
    ids = list(model.objects.filter(where).values_list("pk", flat=True)[:BATCH])  # type: ignore[attr-defined]
    if not ids:
        return 0
    return int(model.objects.filter(pk__in=ids).delete()[0])  # type: ignore[attr-defined]


def purge(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    found: dict[str, int] = {}
    days = int(settings.LIFELINE_RETENTION_INBOX_DAYS)
    if days > 0:
        cutoff = now - timedelta(days=days)
        found["inbox_events"] = _delete(
            InboundEvent,
            Q(
                status__in=(
                    InboundStatus.DONE,
                    InboundStatus.BLOCKED,
                    InboundStatus.DISCARDED,
                )
            )
            & (Q(processed_at__lt=cutoff) | Q(processed_at=None, received_at__lt=cutoff)),
        )
        found["outbox_messages"] = _delete(
            OutboundMessage,
            Q(status__in=(OutboundStatus.SENT, OutboundStatus.DISCARDED))
            & (Q(sent_at__lt=cutoff) | Q(sent_at=None, created_at__lt=cutoff)),
        )
    days = int(settings.LIFELINE_RETENTION_TRANSCRIPT_DAYS)
    if days > 0:
        cutoff = now - timedelta(days=days)
        found["failed_inbox_events"] = _delete(
            InboundEvent, Q(status=InboundStatus.FAILED, received_at__lt=cutoff)
        )
        found["failed_outbox_messages"] = _delete(
            OutboundMessage, Q(status=OutboundStatus.FAILED, created_at__lt=cutoff)
        )
    return {name: count for name, count in found.items() if count}


#: Seconds between two purge turns (one worker runs it: whoever takes the turn in the cache),
#: and how long a turn goes on, a batch of each rule at a time, while there is more to erase.
PURGE_EVERY = 300
TURN_BATCHES = 50
TURN_SECONDS = 20.0


def run_purges(now: datetime | None = None, *, force: bool = False) -> dict[str, int]:
    """Every app's retention rules (``LIFELINE_PURGES``: dotted paths of ``purge(now)``), once
    per PURGE_EVERY across the workers (``force``: now, whoever else ran them); what they
    erased, by name and count, in one audit entry."""
    from django.core.cache import cache
    from django.utils.module_loading import import_string

    from lifeline.audit.services import audit_record

    if not force and not cache.add("retention:turn", 1, PURGE_EVERY):
        return {}
    import time

    found: dict[str, int] = {}
    started = time.monotonic()
    # Batch after batch while there is more (after a flood) and the turn lasts: each rule's
    # batch is bounded, so a busy day's rows are caught up, not left a batch a turn behind.
    for _batch in range(TURN_BATCHES):
        erased = 0
        for path in settings.LIFELINE_PURGES:
            for name, count in import_string(path)(now).items():
                found[name] = found.get(name, 0) + count
                erased += count
        if not erased or time.monotonic() - started > TURN_SECONDS:
            break
    if found:
        audit_record(
            actor=None,
            actor_label="retention",
            action="retention.purged",
            object_type="retention",
            fields=[f"{name}:{count}" for name, count in sorted(found.items())],
        )
    return found
