"""Closing a case (withdrawn, contact lost) and what comes after: exchanges and dispositions."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.core.models import User
from lifeline.stats.services import stat_record

from ..errors import (
    MissingRequirement,
    TransitionNotAllowed,
)
from ..models import (
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    Disposition,
    DispositionKind,
    Exchange,
)
from .events import (
    _apply,
    _record,
)
from .locks import (
    _cancel_open_operations,
    _lock,
)
from .transitions import (
    DISPOSITION_ROLES,
    EXCHANGE_ROLES,
    _check_access,
    _check_role,
    _label,
    _require_text,
)

# --- Closing ------------------------------------------------------------------------------


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
    stat_record(kind="exchange.recorded", at=exchange.created_at)
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
    # Counted once per person and kind: a note changed, or a kind he had before, is not
    # another person exchanged (the kinds he had are in his case's events).
    had = {
        (event.data or {}).get("disposition")
        for event in CaseEvent.objects.filter(case=locked, kind=CaseEventKind.DISPOSITION)
    }
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
        stat=f"disposition.{kind}" if str(kind) not in had else None,
        action="case.disposition",
        fields=("disposition", "note") if note else ("disposition",),
    )
    return disposition
