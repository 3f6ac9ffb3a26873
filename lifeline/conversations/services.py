"""What staff do with conversations: take, assign, reply, hand back to the bot, read.

Every function checks the actor's role and record access, and writes an audit entry.
Replies go through the outbox to the person's channel (the web chat shows stored messages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Case as When_
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.core.models import Role, User
from lifeline.core.parsing import clean_text

from .delivery import Reply, deliver, split_text
from .models import (
    Attachment,
    CannedAnswer,
    Conversation,
    ConversationStatus,
    Direction,
    FlowRun,
    FlowRunStatus,
    Message,
    Note,
)

#: Who works with conversations.
CONVERSATION_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR})


def _check(actor: User) -> None:
    if not actor.is_active or actor.role not in CONVERSATION_ROLES:
        raise PermissionDenied(_("Only operators and supervisors work with conversations."))


def _check_open(locked: Conversation) -> None:
    """A closed conversation stays closed: a page left open elsewhere must not reopen it (if he
    wrote again, that is a new conversation in the queue)."""
    if locked.status == ConversationStatus.CLOSED:
        raise ValueError(_("This conversation is closed. If he wrote again, it is in the queue."))


def _check_nothing_unread(locked: Conversation) -> None:
    """Closing or handing back must not bury a message nobody has seen."""
    if locked.unread:
        raise ValueError(_("He wrote again: read his new message before you close or hand back."))


def conversations_visible_to(actor: User) -> QuerySet[Conversation]:
    """Supervisors: all. Operators: those assigned to them, and the unassigned ones waiting."""
    if not actor.is_active or actor.role not in CONVERSATION_ROLES:
        return Conversation.objects.none()
    if actor.role == Role.SUPERVISOR:
        return Conversation.objects.all()
    return Conversation.objects.filter(
        Q(assignee=actor) | Q(assignee__isnull=True, status=ConversationStatus.WAITING)
    )


def queue(actor: User) -> QuerySet[Conversation]:
    """Waiting for a human: stage-2 alerts first, then the longest wait."""
    waiting = conversations_visible_to(actor).filter(
        status__in=[ConversationStatus.WAITING, ConversationStatus.ACTIVE]
    )
    return waiting.annotate(
        mine=When_(
            When(assignee=actor, then=Value(1)), default=Value(0), output_field=IntegerField()
        )
    ).order_by(
        # Front first; then the ones under way (answered: no wait) before the waiting ones,
        # the longest wait first. NULLs placed explicitly: PostgreSQL and SQLite differ.
        "-priority",
        F("waiting_since").asc(nulls_first=True),
        "created_at",
    )


#: How much of the last message a queue row shows.
PREVIEW_CHARS = 80


@dataclass(frozen=True)
class QueueRow:
    conversation: Conversation
    waited: timedelta
    unread: int
    preview: str  # the start of the last message, decrypted; "" if none
    preview_in: bool  # the last message came from the person


def queue_rows(actor: User, *, limit: int = 200) -> list[QueueRow]:
    """The queue as the console shows it: each row with the start of the person's last message
    (ours only if he has written nothing), how long it has waited, and how many of his messages
    came for a human since its operator last read it or answered."""
    last_in = Message.objects.filter(conversation=OuterRef("pk"), direction=Direction.IN)
    last_any = Message.objects.filter(conversation=OuterRef("pk"))
    conversations_ = list(
        queue(actor)
        .select_related("assignee")
        .annotate(
            last_in_id=Subquery(last_in.order_by("-created_at").values("pk")[:1]),
            last_any_id=Subquery(last_any.order_by("-created_at").values("pk")[:1]),
        )[:limit]
    )
    ids = [c.last_in_id or c.last_any_id for c in conversations_ if c.last_in_id or c.last_any_id]
    last_messages = {m.pk: m for m in Message.objects.filter(pk__in=ids)}
    media = media_for(ids)
    now = timezone.now()
    rows = []
    for item in conversations_:
        message = last_messages.get(item.last_in_id or item.last_any_id)
        text = " ".join((message.text or "").split()) if message else ""
        if message is not None and message.pk in media:
            label = _("[photo]") if media[message.pk].kind == "photo" else _("[voice message]")
            text = f"{label} {text}".strip()
        if len(text) > PREVIEW_CHARS:
            text = text[: PREVIEW_CHARS - 1] + "…"
        rows.append(
            QueueRow(
                conversation=item,
                waited=now - (item.waiting_since or item.created_at),
                unread=item.unread,
                preview=text,
                preview_in=bool(message and message.direction == Direction.IN),
            )
        )
    return rows


def next_for(actor: User) -> Conversation | None:
    """The next thing this operator should look at: his own conversations with unread messages
    and the unassigned waiting ones, front first, then the longest wait."""
    for row in queue_rows(actor, limit=50):
        item = row.conversation
        if item.assignee_id is None and item.status == ConversationStatus.WAITING:
            return item
        if item.assignee_id == actor.pk and row.unread:
            return item
    return None


def mark_read(*, conversation: Conversation, actor: User) -> None:
    """Its operator has the messages on screen: what came before now is no longer unread."""
    if conversation.assignee_id == actor.pk:
        Conversation.objects.filter(pk=conversation.pk).update(read_at=timezone.now(), unread=0)


def get_for(actor: User, conversation_id: UUID) -> Conversation:
    conversation = conversations_visible_to(actor).filter(pk=conversation_id).first()
    if conversation is None:
        raise PermissionDenied
    return conversation


#: The direction of a transcript line that is a staff note.
NOTE = "note"


@dataclass(frozen=True)
class Line:
    direction: str
    text: str
    at: datetime
    sender: str
    buttons: tuple[str, ...]
    id: UUID | None = None
    media: MediaLine | None = None


@dataclass(frozen=True)
class MediaLine:
    """A photo or voice message on a transcript line (its bytes are fetched separately)."""

    id: UUID
    kind: str
    status: str


def media_for(messages: list[UUID]) -> dict[UUID, MediaLine]:
    """The attachments of these messages, without their bytes."""
    return {
        a.message_id: MediaLine(a.pk, a.kind, a.status)
        for a in Attachment.objects.filter(message_id__in=messages).only(
            "id", "message_id", "kind", "status"
        )
    }


def transcript(actor: User, conversation: Conversation) -> list[Line]:
    """The messages, decrypted, and the read audited (names, never the texts)."""
    _check(actor)
    rows = list(conversation.messages.select_related("sender").order_by("created_at"))
    media = media_for([m.pk for m in rows if m.direction == Direction.IN])
    lines = [
        Line(
            m.direction,
            m.text or "",
            m.created_at,
            m.sender.username if m.sender else "",
            tuple(m.buttons) if isinstance(m.buttons, list) else (),
            m.pk,
            media.get(m.pk),
        )
        for m in rows
    ]
    # Staff notes sit among the messages where they were written; they are never sent.
    notes = [
        Line(NOTE, n.text or "", n.created_at, n.author.username if n.author else "", (), n.pk)
        for n in conversation.notes.select_related("author")
    ]
    if notes:
        lines = sorted(lines + notes, key=lambda line: line.at)
    audit_record(
        actor=actor,
        action="conversation.read",
        object_type="conversation",
        object_id=conversation.pk,
        fields=["messages"],
    )
    return lines


def _give(locked: Conversation, *, assignee: User, actor: User, action: str) -> Conversation:
    """Hand a locked conversation to ``assignee`` and audit who did it."""
    locked.assignee = assignee
    locked.status = ConversationStatus.ACTIVE
    locked.save(update_fields=["assignee", "status"])
    audit_record(
        actor=actor,
        action=action,
        object_type="conversation",
        object_id=locked.pk,
        fields=["assignee"],
    )
    return locked


@transaction.atomic
def conversation_take(*, conversation: Conversation, actor: User) -> Conversation:
    _check(actor)
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _check_open(locked)
    if locked.assignee_id not in (None, actor.pk) and actor.role != Role.SUPERVISOR:
        raise PermissionDenied(_("Another operator already has this conversation."))
    return _give(locked, assignee=actor, actor=actor, action="conversation.taken")


@transaction.atomic
def conversation_assign(*, conversation: Conversation, actor: User, assignee: User) -> Conversation:
    if actor.role != Role.SUPERVISOR or not actor.is_active:
        raise PermissionDenied(_("Only supervisors assign conversations."))
    if not assignee.is_active or assignee.role not in CONVERSATION_ROLES:
        raise PermissionDenied(_("Conversations go only to active operators or supervisors."))
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _check_open(locked)
    return _give(locked, assignee=assignee, actor=actor, action="conversation.assigned")


@transaction.atomic
def conversation_reply(*, conversation: Conversation, actor: User, text: str) -> Message:
    """An operator's answer: stored, and queued to the person's channel."""
    _check(actor)
    text = (text or "").strip()
    if not text:
        raise ValueError(_("Write an answer first."))
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _check_open(locked)
    if locked.assignee_id != actor.pk and actor.role != Role.SUPERVISOR:
        raise PermissionDenied(_("Take the conversation before answering."))
    message = Message.objects.create(
        conversation=locked, direction=Direction.OUT, text=text, sender=actor
    )
    # A long answer goes out in parts rather than being refused by the channel.
    deliver(locked, [Reply(part, message_id=message.pk) for part in split_text(text)])
    locked.status = ConversationStatus.ACTIVE
    locked.waiting_since = None
    # The front mark (priority, reason) stays while the conversation is about stage 2: it
    # goes only when the person is handed back to the bot.
    locked.last_message_at = timezone.now()
    locked.unread = 0  # answered: what he wrote before has been read
    locked.save(update_fields=["status", "waiting_since", "last_message_at", "unread"])
    audit_record(
        actor=actor,
        action="conversation.replied",
        object_type="conversation",
        object_id=locked.pk,
        fields=["message"],
    )
    return message


@transaction.atomic
def conversation_return_to_bot(
    *, conversation: Conversation, actor: User, flow: str = "soldier_intake"
) -> None:
    """Hand the person back to the bot, which starts ``flow`` (its first question is sent)."""
    from lifeline.conversations.host import _cancel_runs, start_flow, store_replies

    _check(actor)
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.assignee_id not in (None, actor.pk) and actor.role != Role.SUPERVISOR:
        raise PermissionDenied(_("Another operator has this conversation."))
    _check_open(locked)
    _check_nothing_unread(locked)
    _cancel_runs(locked)
    locked.status = ConversationStatus.BOT
    locked.assignee = None
    locked.waiting_since = None
    locked.priority = 0
    locked.waiting_reason = ""
    locked.unread = 0
    locked.save(
        update_fields=[
            "status",
            "assignee",
            "waiting_since",
            "priority",
            "waiting_reason",
            "unread",
        ]
    )
    replies = store_replies(locked, start_flow(locked, flow))
    deliver(locked, replies)
    audit_record(
        actor=actor,
        action="conversation.returned_to_bot",
        object_type="conversation",
        object_id=locked.pk,
        fields=["status"],
    )


@transaction.atomic
def set_on_shift(*, actor: User, on: bool) -> None:
    _check(actor)
    actor.on_shift = on
    actor.save(update_fields=["on_shift"])
    audit_record(
        actor=actor,
        action="staff.shift_on" if on else "staff.shift_off",
        object_type="user",
        object_id=actor.pk,
        fields=["on_shift"],
    )


def auto_assign(conversation: Conversation) -> User | None:
    """Give a waiting conversation to the least-loaded operator on shift, below the limit
    (settings LIFELINE_AUTO_ASSIGN, LIFELINE_MAX_CONVERSATIONS_PER_OPERATOR)."""
    from django.conf import settings

    if not settings.LIFELINE_AUTO_ASSIGN or conversation.assignee_id is not None:
        return None
    limit = settings.LIFELINE_MAX_CONVERSATIONS_PER_OPERATOR
    candidate = (
        User.objects.filter(is_active=True, on_shift=True, role=Role.OPERATOR)
        .annotate(
            load=Count(
                "conversations",
                filter=Q(
                    conversations__status__in=[
                        ConversationStatus.ACTIVE,
                        ConversationStatus.WAITING,
                    ]
                ),
            )
        )
        .filter(load__lt=limit)
        .order_by("load", "pk")
        .first()
    )
    if candidate is None:
        return None
    conversation.assignee = candidate
    conversation.save(update_fields=["assignee"])
    audit_record(
        actor=None,
        actor_label="auto-assignment",
        action="conversation.assigned",
        object_type="conversation",
        object_id=conversation.pk,
        fields=["assignee"],
    )
    return candidate


@transaction.atomic
def note_add(*, conversation: Conversation, actor: User, text: str) -> Note:
    """A note for staff on this conversation; it is never sent to the person."""
    _check(actor)
    text = (text or "").strip()
    if not text:
        raise ValueError(_("Write the note first."))
    if len(text) > NOTE_MAX_CHARS:
        raise ValueError(
            _("A note may be at most %(max)d characters long.") % {"max": NOTE_MAX_CHARS}
        )
    note = Note.objects.create(conversation=conversation, author=actor, text=text)
    audit_record(
        actor=actor,
        action="conversation.note_added",
        object_type="conversation",
        object_id=conversation.pk,
        fields=["note"],
    )
    return note


NOTE_MAX_CHARS = 4000


@transaction.atomic
def contact_erase(*, conversation: Conversation, actor: User) -> dict[str, int]:
    """A supervisor erases a person's data (he asked by other means, or keeping it endangers
    him): as his own /forget, and the conversation is closed. Audited with the counts."""
    from lifeline.cases.models import Case, CaseStatus
    from lifeline.conversations.host import forget_contact

    if actor.role != Role.SUPERVISOR:
        raise PermissionDenied(_("Only a supervisor can erase a person's data."))
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if Case.objects.filter(requester=locked.contact, status=CaseStatus.OPERATION).exists():
        # Approving an operation takes two supervisors: one cannot end it with a tick-box.
        raise PermissionDenied(
            _("An operation is under way for his application: it cannot be erased now.")
        )
    counts = forget_contact(locked, actor=actor, via="supervisor")
    locked.pending_command = ""
    _close(locked, also=("pending_command",))
    return counts


def _close(locked: Conversation, *, also: tuple[str, ...] = ()) -> None:
    """Off the queue, the bot stopped, the front mark gone (the row is locked by the caller)."""
    from lifeline.conversations.host import _cancel_runs

    _cancel_runs(locked)
    locked.status = ConversationStatus.CLOSED
    locked.waiting_since = None
    locked.priority = 0
    locked.waiting_reason = ""
    locked.unread = 0
    locked.save(
        update_fields=["status", "waiting_since", "priority", "waiting_reason", "unread", *also]
    )


@transaction.atomic
def conversation_close(*, conversation: Conversation, actor: User) -> None:
    """Resolved: off the queue, the bot stops, the front mark goes. The operator keeps it in
    his history; if the person writes again, a new conversation starts."""
    _check(actor)
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.assignee_id not in (None, actor.pk) and actor.role != Role.SUPERVISOR:
        raise PermissionDenied(_("Another operator has this conversation."))
    _check_open(locked)
    _check_nothing_unread(locked)
    if locked.assignee_id is None:
        locked.assignee = actor  # so the one who closed it can still read it
    _close(locked, also=("assignee",))
    audit_record(
        actor=actor,
        action="conversation.closed",
        object_type="conversation",
        object_id=locked.pk,
        fields=["status"],
    )


# --- Canned answers -----------------------------------------------------------------------------


def canned_for(language: str) -> QuerySet[CannedAnswer]:
    """The answers offered in a conversation in ``language``."""
    return CannedAnswer.objects.filter(language=language, active=True)


def _check_supervisor(actor: User) -> None:
    if not actor.is_active or actor.role != Role.SUPERVISOR:
        raise PermissionDenied(_("Only supervisors manage canned answers."))


CANNED_TITLE_MAX = 80
CANNED_TEXT_MAX = 2000


@transaction.atomic
def canned_save(
    *,
    actor: User,
    answer: CannedAnswer | None,
    language: str,
    title: str,
    text: str,
    position: int = 0,
) -> CannedAnswer:
    """Create (``answer`` None) or change a canned answer; audited with the fields changed."""
    from lifeline.core.channels import Language

    _check_supervisor(actor)
    title = " ".join(clean_text(title or "", max_length=CANNED_TITLE_MAX + 1).split())
    text = clean_text(text or "", max_length=CANNED_TEXT_MAX + 1).strip()
    if language not in Language.values:
        raise ValueError(_("Choose the language of the answer."))
    if not title or len(title) > CANNED_TITLE_MAX:
        raise ValueError(
            _("Give the answer a title of 1 to %(max)d characters.") % {"max": CANNED_TITLE_MAX}
        )
    if not text or len(text) > CANNED_TEXT_MAX:
        raise ValueError(
            _("The answer needs a text of 1 to %(max)d characters.") % {"max": CANNED_TEXT_MAX}
        )
    values = {"language": language, "title": title, "text": text, "position": position}
    if answer is None:
        answer = CannedAnswer.objects.create(**values, created_by=actor, updated_by=actor)
        action, changed = "canned.created", sorted(values)
    else:
        answer = CannedAnswer.objects.select_for_update().get(pk=answer.pk)
        changed = sorted(k for k, v in values.items() if getattr(answer, k) != v)
        if not changed:
            return answer
        for key, value in values.items():
            setattr(answer, key, value)
        answer.updated_by = actor
        answer.save()
        action = "canned.changed"
    audit_record(
        actor=actor,
        action=action,
        object_type="canned_answer",
        object_id=answer.pk,
        fields=changed,
    )
    return answer


@transaction.atomic
def canned_set_active(*, actor: User, answer: CannedAnswer, active: bool) -> None:
    """Retire an answer (it stays in the list, no longer offered) or bring it back."""
    _check_supervisor(actor)
    CannedAnswer.objects.filter(pk=answer.pk).update(
        active=active, updated_by=actor, updated_at=timezone.now()
    )
    audit_record(
        actor=actor,
        action="canned.restored" if active else "canned.retired",
        object_type="canned_answer",
        object_id=answer.pk,
        fields=["active"],
    )


# --- Stage 2 by hand ---------------------------------------------------------------------------


def conversation_reidentify(
    *, conversation: Conversation, actor: User, service_number: str, codename: str
) -> object:
    """See :func:`_reidentify_by_hand`; raises with words after its audit entry is committed
    (a refused try is recorded too)."""
    case, allowed = _reidentify_by_hand(
        conversation=conversation, actor=actor, service_number=service_number, codename=codename
    )
    if not allowed:
        raise ValueError(_("Too many tries. Wait a while, or ask a supervisor."))
    if case is None:
        raise ValueError(_("These code words do not match an open case with this number."))
    return case


@transaction.atomic
def _reidentify_by_hand(
    *, conversation: Conversation, actor: User, service_number: str, codename: str
) -> tuple[object, bool]:
    """The operator re-identifies a man at the front who failed the bot's code-word check (a
    typo, words in the wrong order): he types the service number and the code words the man
    gives him here. On a match the case is linked to this conversation (access follows it);
    each try costs one slow hash and counts against the same limits as the bot's."""
    from lifeline.cases import workflow
    from lifeline.core import limits

    from .host import STAGE2_FLOW, current_flow

    _check(actor)
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _check_open(locked)
    if locked.assignee_id != actor.pk and actor.role != Role.SUPERVISOR:
        raise PermissionDenied(_("Take the conversation before answering."))
    codename = (codename or "").strip()
    service_number = (service_number or "").strip()[:64]
    if not codename:
        raise ValueError(_("Write the code words he gives you."))
    from django.conf import settings

    allowed = limits.hit(
        f"reid:op:{actor.pk}",
        limit=settings.LIFELINE_REIDENTIFY_LIMIT,
        window=settings.LIFELINE_REIDENTIFY_WINDOW,
    ) and limits.budget("secret_hash", channel="console")
    case = (
        workflow.reidentify_by_codename(
            codename=codename,
            service_number=service_number or None,
            requester=locked.contact,
        )
        if allowed
        else None
    )
    audit_record(
        actor=actor,
        action="conversation.reidentified"
        if case is not None
        else "conversation.reidentify_failed",
        object_type="conversation",
        object_id=locked.pk,
        fields=["codename"],
    )
    if case is None:
        return None, allowed
    run = (
        FlowRun.objects.select_for_update()
        .filter(conversation=locked, flow=STAGE2_FLOW)
        .order_by("-started_at")
        .first()
    )
    if run is None:
        flow = current_flow(STAGE2_FLOW)
        run = FlowRun(
            conversation=locked,
            flow=flow.name,
            version=flow.version,
            status=FlowRunStatus.ENDED,
            state={},
        )
    run.case = case
    run.reidentified_by = "codename"
    run.save()
    if locked.waiting_reason == "front_unverified":
        locked.waiting_reason = "front"
        locked.save(update_fields=["waiting_reason"])
    return case, True
