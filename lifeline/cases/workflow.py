"""The case workflow (ARCHITECTURE §3): the only code that changes a case's status.

Every public function here is keyword-only, runs in one transaction, locks the case row, checks
the current status and the actor's role, writes a :class:`CaseEvent` and a personal-data-free
:class:`StatEvent`, and raises a :class:`CaseError` subclass with a clear, translated message
when the step is not allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case as DbCase
from django.db.models import Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.contacts.models import Contact
from lifeline.core import crypto
from lifeline.core.models import Role, User
from lifeline.stats.services import stat_record

from . import codenames
from .errors import (
    ActorNotAllowed,
    MissingRequirement,
    ReidentificationFailed,
    TransitionNotAllowed,
    TwoPersonRuleViolation,
)
from .models import (
    OPEN_STATUSES,
    SUBJECT_FIELDS,
    VERIFICATION_CHECKLIST,
    VERIFICATION_LABELS,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseNumberSequence,
    CaseStatus,
    Disposition,
    DispositionKind,
    Exchange,
    MobilisationStatus,
    Operation,
    OperationStatus,
    PhoneSituation,
    RequesterRelation,
)


@dataclass(frozen=True)
class Transition:
    """One row of the workflow table."""

    name: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    system: bool = False  # may a flow (no staff member) take it?


_OPEN = frozenset(OPEN_STATUSES)

#: The workflow table. Supervisors may do everything an operator does (ARCHITECTURE §4).
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("verify", frozenset({CaseStatus.APPLIED}), CaseStatus.VERIFIED,
                   frozenset({Role.VERIFIER, Role.SUPERVISOR})),
        Transition("reject", frozenset({CaseStatus.APPLIED}), CaseStatus.REJECTED,
                   frozenset({Role.VERIFIER, Role.SUPERVISOR})),
        Transition("mark_ready", frozenset({CaseStatus.VERIFIED}), CaseStatus.READY,
                   frozenset({Role.OPERATOR, Role.SUPERVISOR}), system=True),
        Transition("start_operation", frozenset({CaseStatus.READY}), CaseStatus.OPERATION,
                   frozenset({Role.SUPERVISOR})),
        Transition("record_surrender", frozenset({CaseStatus.OPERATION}),
                   CaseStatus.SURRENDERED, frozenset({Role.LIAISON, Role.SUPERVISOR})),
        Transition("record_failure", frozenset({CaseStatus.OPERATION}), CaseStatus.READY,
                   frozenset({Role.LIAISON, Role.SUPERVISOR})),
        Transition("withdraw", _OPEN, CaseStatus.WITHDRAWN,
                   frozenset({Role.OPERATOR, Role.SUPERVISOR})),
        Transition("lose_contact", _OPEN, CaseStatus.LOST_CONTACT,
                   frozenset({Role.OPERATOR, Role.SUPERVISOR})),
    )
}  # fmt: skip

#: Who may open a case (besides the intake flow, which acts with no user).
CREATE_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR})
#: Who may request an operation, record a disposition, record an exchange.
OPERATION_REQUEST_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR})
DISPOSITION_ROLES = frozenset({Role.SUPERVISOR})
EXCHANGE_ROLES = frozenset({Role.SUPERVISOR})
NOTE_ROLES = frozenset({Role.OPERATOR, Role.VERIFIER, Role.SUPERVISOR, Role.LIAISON})


def next_statuses(status: str) -> list[str]:
    """Statuses a case can go to from ``status`` (for messages and the console's buttons)."""
    return sorted({t.target for t in TRANSITIONS.values() if status in t.sources})


def allowed_transitions(*, case: Case, actor: User) -> list[Transition]:
    """The steps this user may take on this case now."""
    return [
        t
        for t in TRANSITIONS.values()
        if case.status in t.sources and actor.is_active and actor.role in t.roles
    ]


def _label(status: str) -> str:
    return str(CaseStatus(status).label)


def _check_role(actor: User | None, roles: frozenset[str], what: str) -> User:
    if actor is None or not actor.is_active or actor.role not in roles:
        allowed = ", ".join(str(Role(r).label) for r in sorted(roles))
        raise ActorNotAllowed(
            _("Your role may not %(what)s. This step is for: %(allowed)s.")
            % {"what": what, "allowed": allowed}
        )
    return actor


def _check_staff_or_flow(actor: User | None, via: str, what: str) -> None:
    """An operator or supervisor, or a flow that names itself (``via``)."""
    if actor is None:
        if not via:
            raise ActorNotAllowed(
                _("A case opened or changed without a staff member must name its flow.")
            )
    else:
        _check_role(actor, CREATE_ROLES, what)


def _check_access(actor: User | None, case: Case) -> None:
    """Record level: the actor must be allowed to see this case (see selectors)."""
    from .selectors import cases_visible_to

    if actor is None or not cases_visible_to(actor).filter(pk=case.pk).exists():
        raise ActorNotAllowed(
            _("Case %(number)s is not one of the cases you handle.") % {"number": case.number}
        )


def _lock(case: Case) -> Case:
    """Re-read the case under a row lock, so two people cannot move it at once."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    case.status = locked.status
    return locked


def _record(
    case: Case,
    *,
    kind: str,
    actor: User | None,
    actor_label: str = "",
    from_status: str = "",
    to_status: str = "",
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
    stat: str | None = None,
    action: str | None = None,
    fields: tuple[str, ...] = (),
) -> CaseEvent:
    event = CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor,
        actor_label=actor_label,
        from_status=from_status,
        to_status=to_status,
        note=note or None,
        data=dict(data) if data else None,
    )
    if stat:
        stat_record(kind=stat, channel=case.channel, language=case.language)
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action=action or f"case.{to_status or kind}",
        object_type="case",
        object_id=case.pk,
        fields=fields or (("status",) if to_status else ("note",) if note else ()),
    )
    return event


def _apply(
    case: Case,
    name: str,
    *,
    actor: User | None,
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
    via: str = "",
) -> Case:
    transition = TRANSITIONS[name]
    locked = _lock(case)
    if locked.status not in transition.sources:
        allowed = ", ".join(_label(s) for s in next_statuses(locked.status)) or _("none")
        raise TransitionNotAllowed(
            _(
                "Case %(number)s is %(current)s and cannot go to %(target)s. "
                "From %(current)s it can go to: %(allowed)s."
            )
            % {
                "number": locked.number,
                "current": _label(locked.status),
                "target": _label(transition.target),
                "allowed": allowed,
            }
        )
    if not (actor is None and transition.system and via):
        # (a flow may take a system transition on the case it re-identified: conversations.host)
        _check_role(
            actor,
            transition.roles,
            _("move a case to %(target)s") % {"target": _label(transition.target)},
        )
        _check_access(actor, locked)
    previous = locked.status
    locked.status = transition.target
    locked.status_changed_at = timezone.now()
    locked.save(update_fields=["status", "status_changed_at", "updated_at"])
    _record(
        locked,
        kind=CaseEventKind.STATUS,
        actor=actor,
        actor_label=via,
        from_status=previous,
        to_status=transition.target,
        note=note,
        data=data,
        stat=f"case.{transition.target}",
    )
    case.status = locked.status
    case.status_changed_at = locked.status_changed_at
    return locked


def _require_text(value: str | None, message: str) -> str:
    if value is None or not value.strip():
        raise MissingRequirement(message)
    return value.strip()


# --- Opening a case ---------------------------------------------------------------------


def _next_number() -> str:
    year = timezone.now().year
    CaseNumberSequence.objects.get_or_create(year=year)
    seq = CaseNumberSequence.objects.select_for_update().get(year=year)
    seq.last += 1
    seq.save(update_fields=["last"])
    return f"{settings.LIFELINE_CASE_NUMBER_PREFIX}-{year}-{seq.last:06d}"


@transaction.atomic
def case_create(
    *,
    actor: User | None,
    channel: str,
    language: str = "ru",
    via: str = "",
    intake_note: str | None = None,
    requester: Contact | None = None,
    requester_relation: str = RequesterRelation.SELF,
    full_name: str | None = None,
    birth_date: date | None = None,
    service_number: str | None = None,
    rank: str | None = None,
    unit: str | None = None,
    location: str | None = None,
    mobilisation_status: str = MobilisationStatus.UNKNOWN,
    group_size: int = 1,
    phone_situation: str = PhoneSituation.UNKNOWN,
) -> Case:
    """Open a case in ``applied``. ``actor=None`` means the intake flow (``via`` names it)."""
    _check_staff_or_flow(actor, via, _("create an application"))
    full_name = (full_name or "").strip() or None
    service_number = (service_number or "").strip() or None
    if not full_name and not service_number:
        raise MissingRequirement(
            _("An application needs at least the full name or the service number.")
        )
    if group_size < 1:
        raise MissingRequirement(_("The group size is at least 1."))
    if birth_date is not None:
        if isinstance(birth_date, datetime) or not isinstance(birth_date, date):
            raise TypeError("birth_date must be a date")  # a programming error, not user input
        if birth_date >= timezone.now().date():
            raise MissingRequirement(_("The birth date must be in the past."))
    case = Case(
        number=_next_number(),
        status=CaseStatus.APPLIED,
        channel=channel,
        language=language,
        requester=requester,
        requester_relation=requester_relation,
        full_name=full_name,
        birth_date=birth_date,
        service_number=service_number,
        rank=rank or None,
        unit=unit or None,
        location=location or None,
        mobilisation_status=mobilisation_status,
        group_size=group_size,
        phone_situation=phone_situation,
        status_changed_at=timezone.now(),
        assignee=actor,  # staff who open a case handle it until a supervisor reassigns it
    )
    case.save()
    given = {
        "full_name": full_name,
        "birth_date": birth_date,
        "service_number": service_number,
        "rank": rank,
        "unit": unit,
        "location": location,
    }
    _record(
        case,
        kind=CaseEventKind.CREATED,
        actor=actor,
        actor_label=via,
        to_status=CaseStatus.APPLIED,
        note=intake_note,
        stat="case.applied",
        action="case.created",
        fields=("status", *(name for name, value in given.items() if value)),
    )
    return case


#: Roles a case can be assigned to.
ASSIGNABLE_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR})


@transaction.atomic
def case_assign(*, case: Case, actor: User, assignee: User | None) -> Case:
    """A supervisor gives a case to an operator (or takes it back with ``assignee=None``)."""
    _check_role(actor, frozenset({Role.SUPERVISOR}), _("assign cases"))
    if assignee is not None and (not assignee.is_active or assignee.role not in ASSIGNABLE_ROLES):
        raise MissingRequirement(
            _("Cases can be assigned only to active operators or supervisors.")
        )
    locked = _lock(case)
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    case.assignee = assignee
    audit_record(
        actor=actor,
        action="case.assigned",
        object_type="case",
        object_id=locked.pk,
        fields=["assignee"],
    )
    return locked


@transaction.atomic
def case_set_codename(*, case: Case, codename: str) -> None:
    """Store the hash of a codename issued to the applicant (the codename itself is not kept)."""
    locked = _lock(case)
    normal = codenames.normalise(codename)
    locked.codename_hash = crypto.hash_secret(normal)
    locked.codename_tag = crypto.secret_tag(normal)
    locked.save(update_fields=["codename_hash", "codename_tag"])
    case.codename_hash = locked.codename_hash
    case.codename_tag = locked.codename_tag
    audit_record(
        actor=None,
        actor_label="intake flow",
        action="case.codename_issued",
        object_type="case",
        object_id=locked.pk,
        fields=["codename_hash"],
    )


# --- Verification -------------------------------------------------------------------------


@transaction.atomic
def case_verify(
    *, case: Case, actor: User, checklist: Mapping[str, bool], note: str | None = None
) -> Case:
    """applied → verified, once every item of :data:`VERIFICATION_CHECKLIST` is confirmed."""
    missing = [item for item in VERIFICATION_CHECKLIST if not checklist.get(item)]
    if missing:
        raise MissingRequirement(
            _(
                "Verification needs every checklist item confirmed; not confirmed: %(items)s. "
                "If a check failed, reject the application with a reason instead."
            )
            % {"items": "; ".join(f"«{VERIFICATION_LABELS[item]}»" for item in missing)}
        )
    return _apply(
        case,
        "verify",
        actor=actor,
        note=note,
        data={"checklist": {item: True for item in VERIFICATION_CHECKLIST}},
    )


@transaction.atomic
def case_reject(*, case: Case, actor: User, reason: str) -> Case:
    """applied → rejected, with the reason."""
    reason = _require_text(reason, _("A rejection needs a reason."))
    return _apply(case, "reject", actor=actor, note=reason)


# --- Stage 2 ------------------------------------------------------------------------------


def reidentify(
    case: Case, *, codename: str | None = None, service_number: str | None = None
) -> str:
    """Check the person's proof against the case; return how he was re-identified."""
    if codename:
        if not case.codename_hash or not crypto.verify_secret(
            codenames.normalise(codename), case.codename_hash
        ):
            raise ReidentificationFailed(_("The codename does not match this case."))
        return "codename"
    if service_number:
        try:
            given = crypto.service_number_index(service_number)
        except crypto.BlindIndexError:
            raise ReidentificationFailed(_("That is not a service number.")) from None
        if not case.service_number_index or given != case.service_number_index:
            raise ReidentificationFailed(_("The service number does not match this case."))
        return "service_number"
    raise MissingRequirement(
        _("Re-identify the person first: enter his codename or his service number.")
    )


#: Statuses in which a man may come back at stage 2 and be recognised by his code words.
REIDENTIFY_STATUSES = (
    CaseStatus.APPLIED,
    CaseStatus.VERIFIED,
    CaseStatus.READY,
    CaseStatus.OPERATION,
)


def reidentify_by_codename(
    *, codename: str, service_number: str | None, requester: Contact | None
) -> Case | None:
    """The open case whose code words these are, among those with this service number or
    opened by this contact; None if there is none.

    Costs exactly one slow hash whatever matches (none, one, or twenty planted cases): the
    keyed tag picks the one stored hash to check, and a dummy hash stands in when there is
    none. So neither the time taken nor the answer tells whether a service number is known."""
    normal = codenames.normalise(codename or "")
    by_number = ""
    if service_number:
        try:
            by_number = crypto.service_number_index(service_number)
        except crypto.BlindIndexError:
            by_number = ""
    match = Q(pk__in=[])
    if by_number:
        match |= Q(service_number_index=by_number)
    if requester is not None:
        match |= Q(requester=requester)
    tag = crypto.secret_tag(normal)
    # Cases hashed before tags existed have none: they are checked only when no tag matches.
    candidate = (
        Case.objects.filter(match, status__in=REIDENTIFY_STATUSES, codename_tag__in=[tag, ""])
        .exclude(codename_hash="")
        .annotate(untagged=DbCase(When(codename_tag="", then=Value(1)), default=Value(0)))
        .order_by("untagged", "-created_at")
        .only("pk", "codename_hash")
        .first()
    )
    stored = candidate.codename_hash if candidate is not None else None
    if crypto.verify_secret_or_dummy(normal, stored) and candidate is not None:
        return Case.objects.get(pk=candidate.pk)
    return None


@transaction.atomic
def case_mark_ready(
    *,
    case: Case,
    actor: User | None,
    codename: str | None = None,
    service_number: str | None = None,
    note: str | None = None,
    via: str = "",
    reidentified_by: str | None = None,
) -> Case:
    """verified → ready, after re-identifying the man by his codename or his service number.

    A flow (``actor=None``) passes ``via`` and ``reidentified_by``: it re-identified the man
    itself with :func:`reidentify` earlier in the conversation."""
    if actor is None:
        if not via or reidentified_by not in ("codename", "service_number"):
            raise ActorNotAllowed(_("A flow marks a case ready only after re-identifying him."))
        method = reidentified_by
    else:
        method = reidentify(
            Case.objects.get(pk=case.pk), codename=codename, service_number=service_number
        )
    return _apply(
        case, "mark_ready", actor=actor, note=note, via=via, data={"reidentified_by": method}
    )


#: Subject fields a flow or an operator may fill in after the application.
UPDATABLE_FIELDS = frozenset(
    {
        *SUBJECT_FIELDS,
        "group_size",
        "urgency",
        "phone_situation",
        "mobilisation_status",
        "callback_phone",
    }
)


@transaction.atomic
def case_update_fields(
    *, case: Case, actor: User | None, fields: Mapping[str, Any], via: str = ""
) -> Case:
    """Add or correct subject fields (e.g. where he is now, at stage 2)."""
    _check_staff_or_flow(actor, via, _("change an application"))
    locked = _lock(case)
    if actor is not None:
        _check_access(actor, locked)
    changed = []
    for name, value in fields.items():
        if name not in UPDATABLE_FIELDS:
            continue
        if name == "birth_date" and isinstance(value, str):
            value = date.fromisoformat(value)
        if name == "group_size":
            value = max(1, int(value))
        if getattr(locked, name) != value:
            setattr(locked, name, value)
            changed.append(name)
    if changed:
        locked.save()
        _record(
            locked,
            kind=CaseEventKind.NOTE,
            actor=actor,
            actor_label=via,
            data={"updated": sorted(changed)},
            action="case.updated",
            fields=tuple(sorted(changed)),
        )
    case.status = locked.status
    return locked


#: Personal fields blanked when the person asks to be forgotten.
ERASABLE_FIELDS = (*SUBJECT_FIELDS, "callback_phone")


@transaction.atomic
def case_erase_personal_data(*, case: Case, via: str) -> Case:
    """The person asked to be forgotten (/forget): blank every personal field, drop the
    codename, and withdraw the case if it is still open. Counts and statuses stay."""
    locked = _lock(case)
    for name in ERASABLE_FIELDS:
        setattr(locked, name, None)
    locked.codename_hash = locked.codename_tag = ""
    locked.save()
    for event in locked.events.all():
        if event.note is not None:
            event.note = None
            event.save(update_fields=["note"])
    for operation in locked.operations.all():
        operation.meeting_point = operation.signal = operation.outcome_note = None
        operation.meeting_time = None
        operation.save(update_fields=["meeting_point", "signal", "outcome_note", "meeting_time"])
    fields = (*ERASABLE_FIELDS, "codename_hash", "codename_tag")
    if locked.status in OPEN_STATUSES:
        previous = locked.status
        locked.status = CaseStatus.WITHDRAWN
        locked.status_changed_at = timezone.now()
        locked.save(update_fields=["status", "status_changed_at", "updated_at"])
        _cancel_open_operations(locked)
        _record(
            locked,
            kind=CaseEventKind.STATUS,
            actor=None,
            actor_label=via,
            from_status=previous,
            to_status=CaseStatus.WITHDRAWN,
            stat="case.withdrawn",
            action="case.erased",
            fields=(*fields, "status"),
        )
    else:
        audit_record(
            actor=None,
            actor_label=via,
            action="case.erased",
            object_type="case",
            object_id=locked.pk,
            fields=fields,
        )
    case.status = locked.status
    return locked


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


def _lock_operation(operation: Operation) -> Operation:
    locked = Operation.objects.select_for_update().select_related("case").get(pk=operation.pk)
    operation.status = locked.status
    return locked


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


# --- Closing ------------------------------------------------------------------------------


def _cancel_open_operations(case: Case) -> None:
    for op in case.operations.select_for_update().filter(
        status__in=[OperationStatus.REQUESTED, OperationStatus.APPROVED]
    ):
        op.status = OperationStatus.CANCELLED
        op.finished_at = timezone.now()
        op.save(update_fields=["status", "finished_at"])


@transaction.atomic
def case_withdraw(*, case: Case, actor: User, reason: str) -> Case:
    """Any open status → withdrawn (the person changed his mind), with the reason."""
    reason = _require_text(reason, _("Withdrawing a case needs a reason."))
    locked = _apply(case, "withdraw", actor=actor, note=reason)
    _cancel_open_operations(locked)
    return locked


@transaction.atomic
def case_mark_lost_contact(*, case: Case, actor: User, reason: str) -> Case:
    """Any open status → lost_contact, with the reason."""
    reason = _require_text(reason, _("Marking contact as lost needs a reason."))
    locked = _apply(case, "lose_contact", actor=actor, note=reason)
    _cancel_open_operations(locked)
    return locked


# --- Afterwards ---------------------------------------------------------------------------


def _exchange_values(
    date: date, released_by_ukraine: int, released_by_russia: int, place: str, note: str
) -> dict[str, Any]:
    """An exchange's fields, checked and cleaned (for recording and for correcting)."""
    if released_by_ukraine < 0 or released_by_russia < 0:
        raise MissingRequirement(_("The numbers released cannot be negative."))
    if max(released_by_ukraine, released_by_russia) > MAX_EXCHANGED:
        raise MissingRequirement(
            _("The numbers released must be at most %(max)d.") % {"max": MAX_EXCHANGED}
        )
    return {
        "date": date,
        "released_by_ukraine": released_by_ukraine,
        "released_by_russia": released_by_russia,
        "place": place.strip()[:120],
        "note": note.strip()[:200],
    }


#: Beyond any real exchange; keeps the value within the database column.
MAX_EXCHANGED = 100_000


@transaction.atomic
def exchange_record(
    *,
    actor: User,
    date: date,
    released_by_ukraine: int,
    released_by_russia: int,
    place: str = "",
    note: str = "",
) -> Exchange:
    """Record an exchange as announced (no personal data: a date, a place, two numbers)."""
    _check_role(actor, EXCHANGE_ROLES, _("record an exchange"))
    values = _exchange_values(date, released_by_ukraine, released_by_russia, place, note)
    exchange = Exchange.objects.create(**values)
    stat_record(kind="exchange.recorded")
    audit_record(
        actor=actor,
        action="exchange.recorded",
        object_type="exchange",
        object_id=exchange.pk,
        fields=list(values),
    )
    return exchange


@transaction.atomic
def exchange_update(
    *,
    actor: User,
    exchange: Exchange,
    date: date,
    released_by_ukraine: int,
    released_by_russia: int,
    place: str = "",
    note: str = "",
) -> Exchange:
    """Correct an exchange's record; the audit log names the fields that changed."""
    _check_role(actor, EXCHANGE_ROLES, _("edit an exchange"))
    new = _exchange_values(date, released_by_ukraine, released_by_russia, place, note)
    locked = Exchange.objects.select_for_update().get(pk=exchange.pk)
    changed = [name for name, value in new.items() if getattr(locked, name) != value]
    for name in changed:
        setattr(locked, name, new[name])
    if changed:
        locked.save(update_fields=changed)
        audit_record(
            actor=actor,
            action="exchange.changed",
            object_type="exchange",
            object_id=locked.pk,
            fields=changed,
        )
    return locked


@transaction.atomic
def case_set_disposition(
    *,
    case: Case,
    actor: User,
    kind: str,
    exchange: Exchange | None = None,
    note: str | None = None,
) -> Disposition:
    """Record (or change) what became of a surrendered person."""
    _check_role(actor, DISPOSITION_ROLES, _("record a disposition"))
    locked = _lock(case)
    _check_access(actor, locked)
    if locked.status != CaseStatus.SURRENDERED:
        raise TransitionNotAllowed(
            _("Only a surrendered person has a disposition; case %(number)s is %(current)s.")
            % {"number": locked.number, "current": _label(locked.status)}
        )
    kind = DispositionKind(kind)
    if kind == DispositionKind.EXCHANGED and exchange is None:
        raise MissingRequirement(_("Choose the exchange in which he was released."))
    if kind != DispositionKind.EXCHANGED:
        exchange = None
    disposition, _created = Disposition.objects.update_or_create(
        case=locked,
        defaults={"kind": kind, "exchange": exchange, "note": note or None, "recorded_by": actor},
    )
    _record(
        locked,
        kind=CaseEventKind.DISPOSITION,
        actor=actor,
        note=note,
        data={"disposition": str(kind)},
        stat=f"disposition.{kind}",
        action="case.disposition",
        fields=("disposition", "note") if note else ("disposition",),
    )
    return disposition


@transaction.atomic
def case_add_note(*, case: Case, actor: User, text: str) -> CaseEvent:
    _check_role(actor, NOTE_ROLES, _("add a note"))
    _check_access(actor, case)
    text = _require_text(text, _("A note cannot be empty."))
    return _record(case, kind=CaseEventKind.NOTE, actor=actor, note=text)
