"""Opening a case, assigning it, its code words, its details, notes, erasure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.contacts.models import Contact
from lifeline.core import crypto, keystore
from lifeline.core.models import Role, User

from .. import codenames, suspicion
from ..errors import (
    MissingRequirement,
)
from ..models import (
    OPEN_STATUSES,
    SUBJECT_FIELDS,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseNumberSequence,
    CaseStatus,
    MobilisationStatus,
    PhoneSituation,
    RequesterRelation,
)
from .events import (
    _record,
)
from .locks import (
    _cancel_open_operations,
    _lock,
)
from .transitions import (
    NOTE_ROLES,
    _check_access,
    _check_role,
    _check_staff_or_flow,
    _require_text,
)

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
    return suspicion.assess(case)


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


def _blank_personal_data(locked: Case) -> tuple[str, ...]:
    """Every personal field of a locked case blank (its events' notes, its operations' places
    and signals too); the names of the fields that held something."""
    held = tuple(name for name in ERASABLE_FIELDS if getattr(locked, name) not in (None, ""))
    for name in ERASABLE_FIELDS:
        setattr(locked, name, None)
    if locked.codename_hash:
        held += ("codename_hash", "codename_tag")
    locked.codename_hash = locked.codename_tag = ""
    # Derived from his answers: the keyed hash of rank, unit and place, the reasons' values.
    locked.answers_fingerprint = ""
    locked.suspicion_reasons = []
    locked.save()
    for event in locked.events.exclude(note__isnull=True):
        event.note = None
        event.save(update_fields=["note"])
    for operation in locked.operations.all():
        operation.meeting_point = operation.signal = operation.outcome_note = None
        operation.meeting_time = None
        operation.save(update_fields=["meeting_point", "signal", "outcome_note", "meeting_time"])
    # What stays (the status history) moves to a fresh key; the old one, which sealed every
    # value just blanked, is destroyed: every older copy of the database loses them too.
    keystore.shred(locked)
    return held


@transaction.atomic
def case_expire(*, case: Case, days: int) -> Case:
    """An application nobody verified within ``days`` (the retention setting): its personal
    data is erased and it ends as lost contact; its counts (statistics, status history) stay.
    The audit entry names the fields that held something, never their values."""
    locked = _lock(case)
    if locked.status != CaseStatus.APPLIED:
        return locked  # verified (or closed) meanwhile: not this rule's
    held = _blank_personal_data(locked)
    locked.status = CaseStatus.LOST_CONTACT
    locked.status_changed_at = timezone.now()
    locked.requester = None  # the application no longer leads to whoever wrote it
    locked.save(update_fields=["status", "status_changed_at", "requester", "updated_at"])
    _record(
        locked,
        kind=CaseEventKind.STATUS,
        actor=None,
        actor_label="retention",
        from_status=CaseStatus.APPLIED,
        to_status=CaseStatus.LOST_CONTACT,
        data={"expired_after_days": days},
        stat="case.expired",
        action="case.expired",
        fields=(*held, "status"),
    )
    case.status = locked.status
    return locked


@transaction.atomic
def case_erase_personal_data(*, case: Case, via: str) -> Case:
    """The person asked to be forgotten (/forget): blank every personal field, drop the
    codename, and withdraw the case if it is still open. Counts and statuses stay."""
    locked = _lock(case)
    _blank_personal_data(locked)
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


@transaction.atomic
def case_add_note(*, case: Case, actor: User, text: str) -> CaseEvent:
    _check_role(actor, NOTE_ROLES, _("add a note"))
    _check_access(actor, case)
    text = _require_text(text, _("A note cannot be empty."))
    return _record(case, kind=CaseEventKind.NOTE, actor=actor, note=text)
