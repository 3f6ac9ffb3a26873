"""Reads of cases. Exact look-ups go through blind indexes: no plaintext is ever searched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.contacts.models import Identity, identity_index
from lifeline.core import crypto
from lifeline.core.channels import Channel
from lifeline.core.models import Role, User

from .models import (
    SUBJECT_FIELDS,
    VERIFICATION_LABELS,
    Case,
    CaseEventKind,
    CaseStatus,
    DispositionKind,
    OperationStatus,
)


def cases_by_service_number(service_number: str) -> QuerySet[Case]:
    try:
        indexes = crypto.lookup(crypto.service_number_index, service_number)
    except crypto.BlindIndexError:
        return Case.objects.none()
    return Case.objects.filter(service_number_index__in=indexes)


def cases_by_name_birth(full_name: str, birth_date: date) -> QuerySet[Case]:
    try:
        indexes = crypto.lookup(crypto.name_birth_index, full_name, birth_date)
    except crypto.BlindIndexError:
        return Case.objects.none()
    return Case.objects.filter(name_birth_index__in=indexes)


def _cases_by_identity(channel: str, address: str) -> QuerySet[Case]:
    try:
        indexes = crypto.lookup(identity_index, channel, address)
    except crypto.BlindIndexError:
        return Case.objects.none()
    contacts = Identity.objects.filter(channel=channel, address_index__in=indexes).values(
        "contact_id"
    )
    return Case.objects.filter(requester__in=contacts)


def cases_by_phone(phone: str) -> QuerySet[Case]:
    return _cases_by_identity(Channel.PHONE, phone)


def cases_by_telegram_id(telegram_id: str | int) -> QuerySet[Case]:
    return _cases_by_identity(Channel.TELEGRAM, str(telegram_id))


def case_duplicates(case: Case) -> QuerySet[Case]:
    """Other cases sharing the service number, name + birth date, or requester's addresses.
    Shown to verifiers as a warning; never merged automatically."""
    match = Q(pk__in=[])
    if case.service_number_index:
        match |= Q(service_number_index=case.service_number_index)
    if case.name_birth_index:
        match |= Q(name_birth_index=case.name_birth_index)
    if case.requester_id:
        indexes = Identity.objects.filter(contact_id=case.requester_id).values_list(
            "channel", "address_index"
        )
        for channel, index in indexes:
            if channel in (Channel.PHONE, Channel.TELEGRAM):
                match |= Q(
                    requester__identities__channel=channel,
                    requester__identities__address_index=index,
                )
    return Case.objects.filter(match).exclude(pk=case.pk).distinct()


# --- Who sees what (record and field level, ARCHITECTURE §4) -----------------------------

#: The personal fields of an operation.
OPERATION_FIELDS: tuple[str, ...] = ("meeting_point", "meeting_time", "signal")

#: Which personal fields each role may receive. Press and admin receive none, anywhere.
FIELD_POLICY: dict[str, tuple[str, ...]] = {
    Role.SUPERVISOR: SUBJECT_FIELDS + OPERATION_FIELDS,
    Role.OPERATOR: SUBJECT_FIELDS + OPERATION_FIELDS,
    Role.VERIFIER: SUBJECT_FIELDS,
    Role.LIAISON: ("full_name", *OPERATION_FIELDS),
    Role.PRESS: (),
    Role.ADMIN: (),
}

#: Fields withheld while a case is in a status, whatever ``FIELD_POLICY`` grants, from every
#: role but the listed ones. While men are on their way to a surrender, where they are now is
#: known to the supervisors and the liaison only: one operator's account is not enough to
#: learn it.
STATUS_WITHHELD_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    CaseStatus.OPERATION: (frozenset({"location"}), frozenset({Role.SUPERVISOR, Role.LIAISON})),
}

#: Roles that see case records at all (press and admin see aggregated figures only).
CASE_ROLES = frozenset({Role.SUPERVISOR, Role.OPERATOR, Role.VERIFIER, Role.LIAISON})


def fields_for(*, actor: User, case: Case) -> tuple[str, ...]:
    """The personal fields (subject and operation) this staff member may see of this case now."""
    allowed = FIELD_POLICY.get(actor.role, ())
    withheld, exempt = STATUS_WITHHELD_FIELDS.get(case.status, (frozenset(), frozenset()))
    if actor.role in exempt:
        return allowed
    return tuple(name for name in allowed if name not in withheld)


def cases_visible_to(actor: User) -> QuerySet[Case]:
    """Record level: the cases this staff member may see."""
    if not actor.is_active:
        return Case.objects.none()
    if actor.role == Role.SUPERVISOR:
        return Case.objects.all()
    if actor.role == Role.OPERATOR:
        # The cases he handles: assigned to him, whose requester he is talking to, or whose
        # man re-identified himself (stage 2, often from a second phone) in a conversation
        # he has: access follows the conversation.
        return Case.objects.filter(
            Q(assignee=actor)
            | Q(requester__conversations__assignee=actor)
            | (Q(runs__conversation__assignee=actor) & ~Q(runs__reidentified_by=""))
        ).distinct()
    if actor.role == Role.VERIFIER:
        # Applications waiting for verification, and his own decisions only while the case is
        # still ``verified``: once it moves on (ready, operation, ...) or was rejected, it is
        # no longer his business, nor where its men are.
        return Case.objects.filter(
            Q(status=CaseStatus.APPLIED)
            | Q(
                status=CaseStatus.VERIFIED,
                events__actor=actor,
                events__to_status=CaseStatus.VERIFIED,
            )
        ).distinct()
    if actor.role == Role.LIAISON:
        return Case.objects.filter(status=CaseStatus.OPERATION)
    return Case.objects.none()


@dataclass(frozen=True)
class CaseView:
    """What one staff member may see of a case: clear metadata, and only permitted fields."""

    case: Case
    personal: dict[str, Any]
    operation: dict[str, Any] | None
    shown_fields: tuple[str, ...]


def case_get_for(*, actor: User, case_id: Any) -> Case:
    """The case if this staff member may see it; ``PermissionDenied`` otherwise."""
    if actor.role not in CASE_ROLES:
        raise PermissionDenied
    case = cases_visible_to(actor).filter(pk=case_id).first()
    if case is None:
        raise PermissionDenied
    return case


def case_read(*, actor: User, case: Case) -> CaseView:
    """Decrypt the fields this role may see, and audit the read (field names, never values)."""
    allowed = fields_for(actor=actor, case=case)
    personal = {name: getattr(case, name) for name in SUBJECT_FIELDS if name in allowed}
    operation_data = None
    shown = [name for name in personal]
    operation = case.operations.filter(
        status__in=[OperationStatus.REQUESTED, OperationStatus.APPROVED]
    ).first()
    if operation is not None:
        operation_data = {
            "id": operation.pk,
            "status": operation.status,
            "status_label": OperationStatus(operation.status).label,
            "group_size": operation.group_size,
            "requested_by": operation.requested_by,
            "approved_by": operation.approved_by,
        }
        for name in OPERATION_FIELDS:
            if name in allowed:
                operation_data[name] = getattr(operation, name)
                shown.append(f"operation.{name}")
    if shown:
        audit_record(
            actor=actor, action="case.read", object_type="case", object_id=case.pk, fields=shown
        )
    return CaseView(
        case=case, personal=personal, operation=operation_data, shown_fields=tuple(shown)
    )


# --- What was recorded (the case page) ---------------------------------------------------


@dataclass(frozen=True)
class EventLine:
    """One case event as this staff member may read it."""

    event: Any  # CaseEvent
    note: str  # "" when there is none or it is withheld from this role
    withheld: bool  # a note exists that this role may not read
    details: tuple[str, ...]  # what the event's data says, in words


@dataclass(frozen=True)
class OperationLine:
    """One operation of the case, finished or not, as this staff member may read it."""

    operation: Any  # Operation
    status_label: str
    details: dict[str, Any]  # meeting point, time and signal, if this role may see them
    outcome_note: str | None  # None when withheld


def _says_where(event: Any) -> bool:
    """Notes about an operation (its request, approval, outcome) may say where the men were."""
    return event.kind == CaseEventKind.OPERATION or "operation" in (event.data or {})


def _details(event: Any) -> tuple[str, ...]:
    data = event.data or {}
    lines: list[str] = []
    checklist = data.get("checklist")
    if isinstance(checklist, dict):
        lines += [
            _("Confirmed: %(item)s") % {"item": VERIFICATION_LABELS.get(item, item)}
            for item, ok in checklist.items()
            if ok
        ]
    if data.get("reidentified_by"):
        method = {"codename": _("by his code words"), "service_number": _("by service number")}
        lines.append(
            _("Re-identified %(how)s")
            % {"how": method.get(str(data["reidentified_by"]), str(data["reidentified_by"]))}
        )
    if data.get("disposition") in DispositionKind.values:
        lines.append(str(DispositionKind(data["disposition"]).label))
    return tuple(str(line) for line in lines)


def case_history(*, actor: User, case: Case) -> tuple[list[EventLine], list[OperationLine]]:
    """Every event and operation of the case with the notes this role may read. Notes about an
    operation, and meeting details, only for the roles that see operation details; reading
    notes is audited (field names, never values)."""
    allowed = fields_for(actor=actor, case=case)
    sees_operations = "meeting_point" in allowed
    events = list(case.events.select_related("actor").order_by("created_at"))
    lines: list[EventLine] = []
    shown: list[str] = []
    for event in events:
        note = event.note or ""
        withheld = bool(note) and _says_where(event) and not sees_operations
        if note and not withheld:
            shown.append("event.note")
        lines.append(EventLine(event, "" if withheld else note, withheld, _details(event)))
    operations: list[OperationLine] = []
    for operation in case.operations.select_related("requested_by", "approved_by").order_by(
        "-requested_at"
    ):
        details = {name: getattr(operation, name) for name in OPERATION_FIELDS if name in allowed}
        shown += [f"operation.{name}" for name in details]
        outcome = operation.outcome_note if sees_operations else None
        if outcome:
            shown.append("operation.outcome_note")
        operations.append(
            OperationLine(operation, str(OperationStatus(operation.status).label), details, outcome)
        )
    if shown:
        audit_record(
            actor=actor,
            action="case.history.read",
            object_type="case",
            object_id=case.pk,
            fields=sorted(set(shown)),
        )
    return lines, operations


@dataclass(frozen=True)
class CaseAbilities:
    """What this staff member may do on this case now: the one place the case page asks.
    The workflow checks each step again when it is taken."""

    transitions: frozenset[str]
    pending_operation: Any  # Operation | None: requested, waiting for approval
    approved_operation: Any  # Operation | None: approved, under way
    can_request: bool  # request an operation
    can_approve: bool  # approve the pending one (not his own request)
    own_request: bool  # the pending request is his: another supervisor must approve
    can_note: bool
    can_assign: bool
    can_dispose: bool  # record what became of him after the surrender


def case_abilities(*, actor: User, case: Case) -> CaseAbilities:
    from . import workflow
    from .models import OperationStatus

    pending = case.operations.filter(status=OperationStatus.REQUESTED).first()
    approved = case.operations.filter(status=OperationStatus.APPROVED).first()
    return CaseAbilities(
        transitions=frozenset(t.name for t in workflow.allowed_transitions(case=case, actor=actor)),
        pending_operation=pending,
        approved_operation=approved,
        can_request=actor.role in workflow.OPERATION_REQUEST_ROLES
        and case.status == CaseStatus.READY
        and pending is None
        and approved is None,
        can_approve=pending is not None
        and actor.role == Role.SUPERVISOR
        and pending.requested_by_id != actor.pk,
        own_request=pending is not None and pending.requested_by_id == actor.pk,
        can_note=actor.role in workflow.NOTE_ROLES,
        can_assign=actor.role == Role.SUPERVISOR,
        can_dispose=actor.role in workflow.DISPOSITION_ROLES
        and case.status == CaseStatus.SURRENDERED,
    )


#: Suspicion hints (for the verifier; never a verdict, never automatic): an intake finished
#: faster than a person types, and a burst of applications on one channel within an hour.
FAST_INTAKE_SECONDS = 90
BURST_PER_HOUR = 20


def suspicion_hints(case: Case) -> list[str]:
    """Reasons to look twice at an application (cases.suspicion), in words: as assessed when it
    was opened (for an application opened before the assessment existed, from what is stored in
    clear: times, counts, links between rows), and whether it is part of a burst of applications
    on its channel, before or after it. Nothing personal is decrypted."""
    from . import suspicion

    assessed = case.suspicion_reasons is not None
    hints = suspicion.explained(case) if assessed else _legacy_hints(case)
    if not any(code == "burst" for code, _n in (case.suspicion_reasons or [])):
        hints.extend(_burst_hint(case))
    return hints


def _legacy_hints(case: Case) -> list[str]:
    from datetime import timedelta

    from django.utils.translation import ngettext

    hints: list[str] = []
    if case.requester_id:
        others = Case.objects.filter(requester_id=case.requester_id).exclude(pk=case.pk).count()
        if others:
            hints.append(
                ngettext(
                    "The same person opened %(n)d other application.",
                    "The same person opened %(n)d other applications.",
                    others,
                )
                % {"n": others}
            )
        # The contact is created with his first message.
        first = case.requester.created_at if case.requester is not None else None
        if first is not None and timedelta(0) <= case.created_at - first < timedelta(
            seconds=FAST_INTAKE_SECONDS
        ):
            seconds = int((case.created_at - first).total_seconds())
            hints.append(
                ngettext(
                    "The whole application took %(n)d second: faster than a person types.",
                    "The whole application took %(n)d seconds: faster than a person types.",
                    seconds,
                )
                % {"n": seconds}
            )
    return hints


def _burst_hint(case: Case) -> list[str]:
    from datetime import timedelta

    from django.utils.translation import ngettext

    hour = timedelta(hours=1)
    burst = Case.objects.filter(
        channel=case.channel,
        created_at__gte=case.created_at - hour,
        created_at__lte=case.created_at + hour,
    ).count()
    if burst <= BURST_PER_HOUR:
        return []
    return [
        ngettext(
            "Part of a burst: %(n)d application on this channel within an hour of it.",
            "Part of a burst: %(n)d applications on this channel within an hour of it.",
            burst,
        )
        % {"n": burst}
    ]
