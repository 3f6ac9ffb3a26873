"""Nothing is dropped silently: what the pipeline gave up on waits here for a supervisor.

A failed inbound event keeps its (encrypted) payload and a failed reply its (encrypted) text
until a supervisor retries or discards it; both are audited, with no content in the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.core.models import Role, User

from .models import InboundEvent, InboundStatus, OutboundMessage, OutboundStatus


def _check(actor: User) -> None:
    if not actor.is_active or actor.role != Role.SUPERVISOR:
        raise PermissionDenied(_("Only supervisors resolve failed messages."))


@dataclass(frozen=True)
class Failure:
    """One failed item as the console lists it: never its content."""

    kind: str  # "inbound" or "outbound"
    id: UUID
    channel: str
    attempts: int
    error: str
    at: datetime
    conversation_id: UUID | None


def failures_for(actor: User) -> list[Failure]:
    _check(actor)
    inbound = [
        Failure("inbound", e.pk, e.channel, e.attempts, "", e.received_at, None)
        for e in InboundEvent.objects.filter(status=InboundStatus.FAILED).order_by("received_at")
    ]
    outbound = [
        Failure("outbound", m.pk, m.channel, m.attempts, m.error, m.created_at, m.conversation_id)
        for m in OutboundMessage.objects.filter(status=OutboundStatus.FAILED).order_by("created_at")
    ]
    return inbound + outbound


def _audit(actor: User, action: str, kind: str, pk: UUID) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type=f"{kind}_message",
        object_id=pk,
        fields=["status"],
    )


@transaction.atomic
def failure_retry(*, actor: User, kind: str, pk: UUID) -> None:
    """Put a failed item back in its queue, with its attempts counted from zero."""
    _check(actor)
    if kind == "inbound":
        event = InboundEvent.objects.select_for_update().get(pk=pk, status=InboundStatus.FAILED)
        event.status, event.attempts, event.next_attempt_at = InboundStatus.PENDING, 0, None
        event.save(update_fields=["status", "attempts", "next_attempt_at"])
    elif kind == "outbound":
        message = OutboundMessage.objects.select_for_update().get(
            pk=pk, status=OutboundStatus.FAILED
        )
        message.status, message.attempts, message.next_attempt_at = OutboundStatus.PENDING, 0, None
        message.error = ""
        message.save(update_fields=["status", "attempts", "next_attempt_at", "error"])
    else:
        raise ValueError(kind)
    _audit(actor, "failure.retried", kind, pk)


@transaction.atomic
def failure_discard(*, actor: User, kind: str, pk: UUID) -> None:
    """Give a failed item up for good: its content is purged, the row stays as a record."""
    _check(actor)
    if kind == "inbound":
        event = InboundEvent.objects.select_for_update().get(pk=pk, status=InboundStatus.FAILED)
        event.status, event.payload = InboundStatus.DISCARDED, None
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "payload", "processed_at"])
    elif kind == "outbound":
        message = OutboundMessage.objects.select_for_update().get(
            pk=pk, status=OutboundStatus.FAILED
        )
        message.status, message.text, message.buttons = OutboundStatus.DISCARDED, None, None
        message.save(update_fields=["status", "text", "buttons"])
    else:
        raise ValueError(kind)
    _audit(actor, "failure.discarded", kind, pk)
