"""Verification (stage 1) and re-identification (stage 2)."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.db.models import Case as DbCase
from django.db.models import Q, Value, When
from django.utils.translation import gettext as _

from lifeline.contacts.models import Contact
from lifeline.core import crypto
from lifeline.core.models import User

from .. import codenames
from ..errors import (
    ActorNotAllowed,
    MissingRequirement,
    ReidentificationFailed,
)
from ..models import (
    VERIFICATION_CHECKLIST,
    VERIFICATION_LABELS,
    Case,
    CaseStatus,
)
from .events import (
    _apply,
)
from .transitions import (
    _require_text,
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
            given = crypto.lookup(crypto.service_number_index, service_number)
        except crypto.BlindIndexError:
            raise ReidentificationFailed(_("That is not a service number.")) from None
        if not case.service_number_index or case.service_number_index not in given:
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
    by_number: list[str] = []
    if service_number:
        try:
            by_number = crypto.lookup(crypto.service_number_index, service_number)
        except crypto.BlindIndexError:
            by_number = []
    match = Q(pk__in=[])
    if by_number:
        match |= Q(service_number_index__in=by_number)
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
