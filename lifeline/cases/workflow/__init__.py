"""The case workflow (ARCHITECTURE §3): the only code that changes a case's status.

Every public function here is keyword-only, runs in one transaction, locks the case row, checks
the current status and the actor's role, writes a :class:`CaseEvent` and a personal-data-free
:class:`StatEvent`, and raises a :class:`CaseError` subclass with a clear, translated message
when the step is not allowed.

The package, one module per part of the work (as Saleor splits ``order/actions.py`` and
``order/events.py``): :mod:`.transitions` (the table and the checks), :mod:`.locks`,
:mod:`.events` (applying and recording a step), :mod:`.intake`, :mod:`.verification`
(stage 1 and stage 2's re-identification), :mod:`.operations`, :mod:`.closing` (and what comes
after: exchanges, dispositions). Callers import from here, never from a module.

**Lock order.** Every step locks rows in this order and never the other way round, so two steps
cannot wait for each other: (1) the case row (:func:`.locks._lock`), then (2) its operation rows
(:func:`.locks._lock_operation` takes the case first itself). A flow step already holds its
conversation row (conversations are locked before the cases they touch).
"""

from __future__ import annotations

from ..models import VERIFICATION_CHECKLIST
from .closing import (
    MAX_EXCHANGED,
    case_mark_lost_contact,
    case_set_disposition,
    case_withdraw,
    exchange_record,
    exchange_update,
)
from .intake import (
    ASSIGNABLE_ROLES,
    ERASABLE_FIELDS,
    UPDATABLE_FIELDS,
    case_add_note,
    case_assign,
    case_create,
    case_erase_personal_data,
    case_expire,
    case_set_codename,
    case_update_fields,
)
from .operations import (
    operation_approve,
    operation_record_outcome,
    operation_request,
)
from .transitions import (
    CREATE_ROLES,
    DISPOSITION_ROLES,
    EXCHANGE_ROLES,
    NOTE_ROLES,
    OPERATION_REQUEST_ROLES,
    TRANSITIONS,
    Transition,
    allowed_transitions,
    next_statuses,
)
from .verification import (
    REIDENTIFY_STATUSES,
    case_mark_ready,
    case_reject,
    case_verify,
    reidentify,
    reidentify_by_codename,
)

__all__ = [
    "ASSIGNABLE_ROLES",
    "CREATE_ROLES",
    "DISPOSITION_ROLES",
    "ERASABLE_FIELDS",
    "EXCHANGE_ROLES",
    "MAX_EXCHANGED",
    "NOTE_ROLES",
    "OPERATION_REQUEST_ROLES",
    "REIDENTIFY_STATUSES",
    "TRANSITIONS",
    "Transition",
    "UPDATABLE_FIELDS",
    "VERIFICATION_CHECKLIST",
    "allowed_transitions",
    "case_add_note",
    "case_assign",
    "case_create",
    "case_erase_personal_data",
    "case_expire",
    "case_mark_lost_contact",
    "case_mark_ready",
    "case_reject",
    "case_set_codename",
    "case_set_disposition",
    "case_update_fields",
    "case_verify",
    "case_withdraw",
    "exchange_record",
    "exchange_update",
    "next_statuses",
    "operation_approve",
    "operation_record_outcome",
    "operation_request",
    "reidentify",
    "reidentify_by_codename",
]
