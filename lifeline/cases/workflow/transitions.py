"""The workflow table: which step goes from which statuses to which, and who may take it;
the role sets and the checks every step makes."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from lifeline.core.models import Role, User

from ..errors import (
    ActorNotAllowed,
    MissingRequirement,
)
from ..models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
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
    from ..selectors import cases_visible_to

    if actor is None or not cases_visible_to(actor).filter(pk=case.pk).exists():
        raise ActorNotAllowed(
            _("Case %(number)s is not one of the cases you handle.") % {"number": case.number}
        )


def _require_text(value: str | None, message: str) -> str:
    if value is None or not value.strip():
        raise MissingRequirement(message)
    return value.strip()
