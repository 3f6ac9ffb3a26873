"""Operations under the two-person rule: request, approve, record the outcome."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from lifeline.core.models import Role, User

from ..errors import (
    MissingRequirement,
    TransitionNotAllowed,
    TwoPersonRuleViolation,
)
from ..models import (
    Case,
    CaseEventKind,
    CaseStatus,
    Operation,
    OperationStatus,
)
from .events import (
    _apply,
    _record,
)
from .locks import (
    _lock,
    _lock_operation,
)
from .transitions import (
    OPERATION_REQUEST_ROLES,
    _check_access,
    _check_role,
    _label,
    _require_text,
)

# --- Operations (two-person rule) -----------------------------------------------------------


@transaction.atomic
def operation_request(
    *,
    case: Case,
    actor: User,
    meeting_point: str,
    meeting_time: datetime,
    signal: str,
    group_size: int,
) -> Operation:
    """Ask for a surrender operation on a ``ready`` case; another supervisor must approve it."""
    _check_role(actor, OPERATION_REQUEST_ROLES, _("request an operation"))
    locked = _lock(case)
    _check_access(actor, locked)
    if locked.status != CaseStatus.READY:
        raise TransitionNotAllowed(
            _(
                "An operation can be requested only for a case that is %(ready)s; "
                "case %(number)s is %(current)s."
            )
            % {
                "ready": _label(CaseStatus.READY),
                "number": locked.number,
                "current": _label(locked.status),
            }
        )
    meeting_point = _require_text(meeting_point, _("An operation needs a meeting point."))
    signal = _require_text(signal, _("An operation needs a recognition signal."))
    if meeting_time is None or timezone.is_naive(meeting_time):
        raise MissingRequirement(_("An operation needs a meeting time."))
    if group_size is None or group_size < 1:
        raise MissingRequirement(_("An operation needs the group size (at least 1)."))
    if locked.operations.filter(
        status__in=[OperationStatus.REQUESTED, OperationStatus.APPROVED]
    ).exists():
        raise TransitionNotAllowed(
            _("Case %(number)s already has an operation waiting or under way.")
            % {"number": locked.number}
        )
    operation = Operation.objects.create(
        case=locked,
        requested_by=actor,
        meeting_point=meeting_point,
        meeting_time=meeting_time,
        signal=signal,
        group_size=group_size,
    )
    _record(
        locked,
        kind=CaseEventKind.OPERATION,
        actor=actor,
        data={"operation": str(operation.pk), "step": "requested"},
        stat="operation.requested",
        action="operation.requested",
        fields=("meeting_point", "meeting_time", "signal", "group_size"),
    )
    return operation


@transaction.atomic
def operation_approve(*, operation: Operation, actor: User) -> Operation:
    """A supervisor other than the requester approves; the case goes ready → operation."""
    locked = _lock_operation(operation)
    _check_role(actor, frozenset({Role.SUPERVISOR}), _("approve an operation"))
    if locked.requested_by_id == actor.pk:
        raise TwoPersonRuleViolation(
            _(
                "You requested this operation, so you cannot approve it: "
                "another supervisor must approve it (two-person rule)."
            )
        )
    from lifeline.core.staff import staff_sponsored_by

    # No sockpuppets: the requester may control an account he had created, promoted or reset
    # (he received its enrolment link), and the other way round (docs/threat-model.md).
    if actor.pk in staff_sponsored_by(locked.requested_by) or locked.requested_by_id in (
        staff_sponsored_by(actor)
    ):
        raise TwoPersonRuleViolation(
            _(
                "You cannot approve this operation: your account and the requester's are "
                "linked by a staff change (one asked for the other's account, role, password "
                "or authenticator). Another supervisor must approve it (two-person rule)."
            )
        )
    if locked.status != OperationStatus.REQUESTED:
        raise TransitionNotAllowed(
            _("This operation is %(status)s, not waiting for approval.")
            % {"status": OperationStatus(locked.status).label}
        )
    _apply(
        locked.case,
        "start_operation",
        actor=actor,
        data={"operation": str(locked.pk), "step": "approved"},
    )
    locked.status = OperationStatus.APPROVED
    locked.approved_by = actor
    locked.approved_at = timezone.now()
    locked.save(update_fields=["status", "approved_by", "approved_at"])
    operation.status = locked.status
    operation.approved_by = actor
    return locked


@transaction.atomic
def operation_record_outcome(
    *, operation: Operation, actor: User, surrendered: bool, note: str
) -> Operation:
    """The liaison (or a supervisor) records the outcome: surrendered, or failed → ready."""
    note = _require_text(note, _("Record what happened in an outcome note."))
    locked = _lock_operation(operation)
    if locked.status != OperationStatus.APPROVED:
        raise TransitionNotAllowed(
            _("This operation is %(status)s; an outcome is recorded only for an approved one.")
            % {"status": OperationStatus(locked.status).label}
        )
    _apply(
        locked.case,
        "record_surrender" if surrendered else "record_failure",
        actor=actor,
        note=note,
        data={"operation": str(locked.pk)},
    )
    locked.status = OperationStatus.SUCCEEDED if surrendered else OperationStatus.FAILED
    locked.outcome_note = note
    locked.finished_at = timezone.now()
    locked.save(update_fields=["status", "outcome_note", "finished_at"])
    operation.status = locked.status
    return locked
