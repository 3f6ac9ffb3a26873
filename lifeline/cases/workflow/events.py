"""Applying a transition and recording it: the case event, the statistic, the audit entry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.core.models import User
from lifeline.stats.services import stat_record

from ..errors import (
    TransitionNotAllowed,
)
from ..models import (
    Case,
    CaseEvent,
    CaseEventKind,
)
from .locks import (
    _lock,
)
from .transitions import (
    TRANSITIONS,
    _check_access,
    _check_role,
    _label,
    next_statuses,
)


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
        stat_record(kind=stat, channel=case.channel, language=case.language, at=event.created_at)
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
        # (a failed operation sends the case back to "ready": counted as a failure, not as
        # another stage-2 contact)
        stat="operation.failed"
        if transition.name == "record_failure"
        else f"case.{transition.target}",
    )
    case.status = locked.status
    case.status_changed_at = locked.status_changed_at
    return locked
