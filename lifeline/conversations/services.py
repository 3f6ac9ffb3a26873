"""What staff do with conversations: take, assign, reply, hand back to the bot, read.

Every function checks the actor's role and record access, and writes an audit entry.
Replies go through the outbox to the person's channel (the web chat shows stored messages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Case as When_
from django.db.models import IntegerField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.core.models import Role, User

from .delivery import Reply, deliver, split_text
from .models import Conversation, ConversationStatus, Direction, Message

#: Who works with conversations.
CONVERSATION_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR})


def _check(actor: User) -> None:
    if not actor.is_active or actor.role not in CONVERSATION_ROLES:
        raise PermissionDenied(_("Only operators and supervisors work with conversations."))


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
    ).order_by("-priority", "waiting_since", "created_at")


def get_for(actor: User, conversation_id: UUID) -> Conversation:
    conversation = conversations_visible_to(actor).filter(pk=conversation_id).first()
    if conversation is None:
        raise PermissionDenied
    return conversation


@dataclass(frozen=True)
class Line:
    direction: str
    text: str
    at: datetime
    sender: str
    buttons: tuple[str, ...]
    id: UUID | None = None


def transcript(actor: User, conversation: Conversation) -> list[Line]:
    """The messages, decrypted, and the read audited (names, never the texts)."""
    _check(actor)
    lines = [
        Line(
            m.direction,
            m.text or "",
            m.created_at,
            m.sender.username if m.sender else "",
            tuple(m.buttons) if isinstance(m.buttons, list) else (),
            m.pk,
        )
        for m in conversation.messages.select_related("sender").order_by("created_at")
    ]
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
    return _give(locked, assignee=assignee, actor=actor, action="conversation.assigned")


@transaction.atomic
def conversation_reply(*, conversation: Conversation, actor: User, text: str) -> Message:
    """An operator's answer: stored, and queued to the person's channel."""
    _check(actor)
    text = (text or "").strip()
    if not text:
        raise ValueError(_("Write an answer first."))
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
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
    locked.save(update_fields=["status", "waiting_since", "last_message_at"])
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
    _cancel_runs(locked)
    locked.status = ConversationStatus.BOT
    locked.assignee = None
    locked.waiting_since = None
    locked.priority = 0
    locked.waiting_reason = ""
    locked.save(update_fields=["status", "assignee", "waiting_since", "priority", "waiting_reason"])
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
    from django.db.models import Count

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
