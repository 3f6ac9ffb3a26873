"""Call-back requests: the only way Lifeline calls anyone.

A number that rang and hung up is never called back on its own account: the phone may be a
soldier's, checked by his commander, and a call from Ukraine can expose him. A call back is
offered only where the person asked for one, on a number he gave and at a time he said is safe;
both are encrypted, and showing the number to an operator is audited."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.conversations.models import Conversation
from lifeline.core import crypto
from lifeline.core.models import Role, User

from .models import CallbackRequest, CallbackStatus

CALLBACK_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR})
SAFE_TIME_MAX = 200


def _check(actor: User) -> None:
    if not actor.is_active or actor.role not in CALLBACK_ROLES:
        raise PermissionDenied(_("Only operators and supervisors handle call backs."))


def _e164(number: str) -> str:
    try:
        parsed = phonenumbers.parse((number or "").strip(), "RU")
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise ValueError(
            _("Write the number he gave, with the country code, like +7 912 345 67 89.")
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@transaction.atomic
def callback_request(
    *, actor: User, conversation: Conversation | None, number: str, safe_time: str
) -> CallbackRequest:
    """Record that the person asked to be called back on ``number`` at ``safe_time``."""
    _check(actor)
    e164 = _e164(number)
    safe_time = " ".join((safe_time or "").split())
    if not safe_time or len(safe_time) > SAFE_TIME_MAX:
        raise ValueError(
            _("Write when he said a call is safe (at most %(max)d characters).")
            % {"max": SAFE_TIME_MAX}
        )
    request = CallbackRequest.objects.create(
        conversation=conversation,
        contact=conversation.contact if conversation is not None else None,
        number=e164,
        number_index=crypto.phone_index(e164),
        safe_time=safe_time,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="callback.requested",
        object_type="callback",
        object_id=request.pk,
        fields=["number", "safe_time"],
    )
    return request


def open_requests() -> QuerySet[CallbackRequest]:
    return CallbackRequest.objects.filter(status=CallbackStatus.OPEN).order_by("created_at")


def requested_indexes() -> set[str]:
    """Blind indexes of numbers with an open call-back request."""
    return set(open_requests().values_list("number_index", flat=True))


def may_show(actor: User, request: CallbackRequest) -> bool:
    """Who may see the number: a supervisor, whoever recorded the request, or whoever may open
    the conversation it came from (access follows the conversation, as for its messages)."""
    from lifeline.conversations.services import conversations_visible_to

    if actor.role == Role.SUPERVISOR or request.created_by_id == actor.pk:
        return True
    return bool(
        request.conversation_id
        and conversations_visible_to(actor).filter(pk=request.conversation_id).exists()
    )


def callback_show(*, actor: User, request: CallbackRequest) -> tuple[str, str]:
    """The number and the safe time, for the operator who is about to call; audited."""
    _check(actor)
    if not may_show(actor, request):
        raise PermissionDenied(_("Only whoever handles his conversation may see this number."))
    audit_record(
        actor=actor,
        action="callback.read",
        object_type="callback",
        object_id=request.pk,
        fields=["number", "safe_time"],
    )
    return request.number or "", request.safe_time or ""


@transaction.atomic
def callback_close(*, actor: User, request: CallbackRequest, done: bool) -> None:
    """Called back (``done``) or no longer wanted; either way it leaves the list."""
    _check(actor)
    if not may_show(actor, request):
        raise PermissionDenied(_("Only whoever handles his conversation may see this number."))
    changed = CallbackRequest.objects.filter(pk=request.pk, status=CallbackStatus.OPEN).update(
        status=CallbackStatus.DONE if done else CallbackStatus.CANCELLED,
        done_by=actor,
        done_at=timezone.now(),
    )
    if not changed:
        raise ValueError(_("This call back is already closed."))
    audit_record(
        actor=actor,
        action="callback.done" if done else "callback.cancelled",
        object_type="callback",
        object_id=request.pk,
        fields=["status"],
    )
