"""Managing staff accounts. Every change is audited; every change that matters for security
ends the account's live sessions (``session_epoch``).

No one person takes an account over or hands out access to personal data (ARCHITECTURE §5,
issue #10):

* Creating an account with a role that sees personal data (``PERSONAL_DATA_ROLES``), moving an
  account to such a role (except down from supervisor), enabling such an account, resetting
  someone's password or authenticator: each is a :class:`StaffChangeRequest` that a supervisor
  other than the requester approves (``staff_request_approve``). Nobody decides his own request
  (also a database constraint), nor a request about his own account.
* Nobody chooses another person's password. A new account, or one whose password was reset,
  gets a one-time enrolment link (``staff_issue_link``) where its owner sets his own password;
  only the link's SHA-256 is stored. The link goes to the *requester* once the change is
  approved (or at once for a press/admin account), so exactly one person other than the owner
  could ever have held it — the one ``staff_sponsored_by`` keeps from approving with it.
* Removing access is immediate: disabling, a role without personal data, a demotion from
  supervisor.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from lifeline.audit.services import audit_record

from .models import (
    PERSONAL_DATA_ROLES,
    EnrolmentLink,
    Role,
    StaffChangeKind,
    StaffChangeRequest,
    StaffChangeStatus,
    User,
)

#: The lockout bucket every browser without a device cookie shares for an account (django-axes
#: stores it in its address column; lifeline/console/security.py decides who is in it).
UNKNOWN_CLIENT = "fd00::"

#: Who may manage staff accounts (and ask for changes that need approval).
STAFF_MANAGER_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
#: Who may approve or refuse a staff change request.
STAFF_APPROVER_ROLES = frozenset({Role.SUPERVISOR})
#: Statuses under which a request's change was made.
APPLIED = (StaffChangeStatus.APPROVED, StaffChangeStatus.DIRECT)
#: Changes that end with an enrolment link for the account's owner.
LINK_KINDS = frozenset({StaffChangeKind.CREATE, StaffChangeKind.RESET_PASSWORD})


def _check_manager(actor: User, target: User | None = None) -> None:
    if not actor.is_active or actor.role not in STAFF_MANAGER_ROLES:
        raise PermissionDenied(_("Only supervisors and administrators manage staff accounts."))
    if target is not None and target.pk == actor.pk:
        raise PermissionDenied(
            _("Ask another supervisor or administrator to change your own account.")
        )


def _end_sessions(user: User) -> None:
    user.session_epoch += 1


def _audit(actor: User | None, action: str, user_id: object, fields: list[str]) -> None:
    audit_record(
        actor=actor, action=action, object_type="user", object_id=str(user_id), fields=fields
    )


def _audit_change(actor: User, action: str, change: StaffChangeRequest) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="staff_change",
        object_id=str(change.pk),
        fields=["kind", "status"],
    )


def grants_personal_data(current_role: str | None, new_role: str) -> bool:
    """Whether moving an account from ``current_role`` (None: a new account) to ``new_role``
    gives it personal data it did not see. A supervisor sees every case: any move from there
    removes access."""
    if new_role not in PERSONAL_DATA_ROLES:
        return False
    return current_role != Role.SUPERVISOR


# --- Requests -----------------------------------------------------------------------------------


def _request(
    *,
    actor: User,
    kind: str,
    target: User | None = None,
    username: str = "",
    role: str = "",
) -> StaffChangeRequest:
    try:
        with transaction.atomic():
            change = StaffChangeRequest.objects.create(
                kind=kind, target=target, username=username, role=role, requested_by=actor
            )
    except IntegrityError:
        raise ValidationError(_("The same change is already waiting for approval.")) from None
    _audit_change(actor, "staff.change_requested", change)
    return change


def _clean_new_username(username: str) -> str:
    username = username.strip()
    if not username:
        raise ValidationError(_("A username is required."))
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(_("This username is taken."))
    return username


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError(_("Unknown role."))


@dataclass(frozen=True)
class Created:
    """The outcome of ``staff_create``: the request, and for a press or admin account made at
    once, the enrolment token to show once to its creator."""

    change: StaffChangeRequest
    token: str | None = None


@transaction.atomic
def staff_create(*, actor: User, username: str, role: str) -> Created:
    """A new account never gets a password from its creator. Press and admin accounts are made
    at once with an enrolment link; the other roles wait for a second supervisor."""
    _check_manager(actor)
    _check_role(role)
    username = _clean_new_username(username)
    if grants_personal_data(None, role):
        return Created(
            _request(actor=actor, kind=StaffChangeKind.CREATE, username=username, role=role)
        )
    user = _make_account(actor=actor, username=username, role=role)
    change = StaffChangeRequest.objects.create(
        kind=StaffChangeKind.CREATE,
        status=StaffChangeStatus.DIRECT,
        target=user,
        username=username,
        role=role,
        requested_by=actor,
    )
    _audit_change(actor, "staff.change_direct", change)
    return Created(change, _issue_link(actor=actor, change=change))


def _make_account(*, actor: User, username: str, role: str) -> User:
    user = User(username=username, role=role)
    user.set_unusable_password()  # until its owner sets one through the enrolment link
    user.save()
    _audit(actor, "staff.created", user.pk, ["username", "role"])
    return user


@transaction.atomic
def staff_set_role(*, actor: User, user: User, role: str) -> StaffChangeRequest | None:
    """Change a role at once when it gives no new personal data; otherwise ask for approval
    and return the pending request."""
    _check_manager(actor, user)
    _check_role(role)
    if user.role == role:
        return None
    if grants_personal_data(user.role, role):
        return _request(actor=actor, kind=StaffChangeKind.SET_ROLE, target=user, role=role)
    _apply_role(actor=actor, user=user, role=role)
    return None


def _apply_role(*, actor: User, user: User, role: str) -> None:
    user.role = role
    _end_sessions(user)
    user.save(update_fields=["role", "session_epoch"])
    _audit(actor, "staff.role_changed", user.pk, ["role"])


@transaction.atomic
def staff_disable(*, actor: User, user: User) -> User:
    _check_manager(actor, user)
    user.is_active = False
    _end_sessions(user)
    user.save(update_fields=["is_active", "session_epoch"])
    _audit(actor, "staff.disabled", user.pk, ["is_active"])
    return user


@transaction.atomic
def staff_enable(*, actor: User, user: User) -> StaffChangeRequest | None:
    """Enable at once an account without personal data; otherwise ask for approval."""
    _check_manager(actor, user)
    if user.is_active:
        return None
    if user.role in PERSONAL_DATA_ROLES:
        return _request(actor=actor, kind=StaffChangeKind.ENABLE, target=user)
    _apply_enable(actor=actor, user=user)
    return None


def _apply_enable(*, actor: User, user: User) -> None:
    user.is_active = True
    user.save(update_fields=["is_active"])
    _audit(actor, "staff.enabled", user.pk, ["is_active"])


@transaction.atomic
def staff_request_password_reset(*, actor: User, user: User) -> StaffChangeRequest:
    """Ask that ``user`` sets a new password through an enrolment link (nobody chooses it
    for him). On approval his password stops working and his sessions end."""
    _check_manager(actor, user)
    return _request(actor=actor, kind=StaffChangeKind.RESET_PASSWORD, target=user)


@transaction.atomic
def staff_request_totp_reset(*, actor: User, user: User) -> StaffChangeRequest:
    """Ask that ``user``'s authenticators are removed: he enrols a new one at his next login."""
    _check_manager(actor, user)
    return _request(actor=actor, kind=StaffChangeKind.RESET_TOTP, target=user)


def _locked_pending(change: StaffChangeRequest) -> StaffChangeRequest:
    locked = StaffChangeRequest.objects.select_for_update().get(pk=change.pk)
    if locked.status != StaffChangeStatus.PENDING:
        raise ValidationError(_("This request is no longer waiting for approval."))
    return locked


def check_may_decide(actor: User, change: StaffChangeRequest) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` may approve or refuse ``change``."""
    if not actor.is_active or actor.role not in STAFF_APPROVER_ROLES:
        raise PermissionDenied(_("Only a supervisor approves or refuses staff changes."))
    if change.requested_by_id == actor.pk:
        raise PermissionDenied(
            _("You asked for this change: another supervisor must approve or refuse it.")
        )
    if change.target_id is not None and change.target_id == actor.pk:
        raise PermissionDenied(
            _("This change is about your own account: another supervisor must decide it.")
        )
    if actor.pk in staff_sponsored_by(change.requested_by) or change.requested_by_id in (
        staff_sponsored_by(actor)
    ):
        raise PermissionDenied(
            _(
                "You and the person who asked are linked by an earlier staff change (one "
                "created, promoted or reset the other's account): another supervisor must "
                "decide."
            )
        )


def may_decide(actor: User, change: StaffChangeRequest) -> bool:
    try:
        check_may_decide(actor, change)
    except PermissionDenied:
        return False
    return True


@transaction.atomic
def staff_request_approve(*, actor: User, change: StaffChangeRequest) -> StaffChangeRequest:
    """A second supervisor approves: the change is made now. For a new account or a password
    reset, the requester then gets the enrolment link once (``staff_issue_link``)."""
    locked = _locked_pending(change)
    check_may_decide(actor, locked)
    requester = locked.requested_by
    if not requester.is_active or requester.role not in STAFF_MANAGER_ROLES:
        raise ValidationError(
            _("The person who asked no longer manages staff accounts: refuse this request.")
        )
    target = None
    if locked.target_id is not None:
        target = User.objects.select_for_update().get(pk=locked.target_id)
    if locked.kind == StaffChangeKind.CREATE:
        username = _clean_new_username(locked.username)
        locked.target = _make_account(actor=actor, username=username, role=locked.role)
    elif target is None:  # pragma: no cover - every other kind has a target
        raise ValidationError(_("This request names no account."))
    elif locked.kind == StaffChangeKind.SET_ROLE:
        if target.role != locked.role:
            _apply_role(actor=actor, user=target, role=locked.role)
    elif locked.kind == StaffChangeKind.ENABLE:
        if not target.is_active:
            _apply_enable(actor=actor, user=target)
    elif locked.kind == StaffChangeKind.RESET_PASSWORD:
        target.set_unusable_password()
        _end_sessions(target)
        target.save(update_fields=["password", "session_epoch"])
        _revoke_links(target)
        _audit(actor, "staff.password_reset", target.pk, ["password"])
    elif locked.kind == StaffChangeKind.RESET_TOTP:
        TOTPDevice.objects.filter(user=target).delete()
        _end_sessions(target)
        target.save(update_fields=["session_epoch"])
        _audit(actor, "staff.totp_reset", target.pk, ["totp_device"])
    locked.status = StaffChangeStatus.APPROVED
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at", "target"])
    _audit_change(actor, "staff.change_approved", locked)
    return locked


@transaction.atomic
def staff_request_refuse(*, actor: User, change: StaffChangeRequest) -> StaffChangeRequest:
    locked = _locked_pending(change)
    check_may_decide(actor, locked)
    locked.status = StaffChangeStatus.REFUSED
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    _audit_change(actor, "staff.change_refused", locked)
    return locked


@transaction.atomic
def staff_request_cancel(*, actor: User, change: StaffChangeRequest) -> StaffChangeRequest:
    """The requester withdraws his own pending request."""
    locked = _locked_pending(change)
    if locked.requested_by_id != actor.pk:
        raise PermissionDenied(_("Only the person who asked can cancel a request."))
    locked.status = StaffChangeStatus.CANCELLED
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_at"])
    _audit_change(actor, "staff.change_cancelled", locked)
    return locked


def pending_changes() -> QuerySet[StaffChangeRequest]:
    return StaffChangeRequest.objects.filter(status=StaffChangeStatus.PENDING).select_related(
        "target", "requested_by"
    )


def links_to_hand_over(actor: User) -> QuerySet[StaffChangeRequest]:
    """``actor``'s approved requests whose enrolment link he has not been shown yet."""
    return StaffChangeRequest.objects.filter(
        requested_by=actor,
        status__in=APPLIED,
        kind__in=LINK_KINDS,
        link_issued_at__isnull=True,
        target__isnull=False,
    ).select_related("target", "decided_by")


# --- Sponsorship (the two-person rule across staff changes) ------------------------------------


def staff_sponsored_by(user: User) -> set[int]:
    """Ids of the accounts whose access ``user`` may control: those created, promoted, enabled
    or reset by a change he asked for, and, transitively, those such accounts asked for.

    The person who asks for a new account or a password reset is also the one who receives its
    enrolment link; he must not then approve with that account, nor be approved by it
    (``operation_approve``, ``staff_request_approve``)."""
    found: set[int] = set()
    frontier = {user.pk}
    while frontier:
        targets = set(
            StaffChangeRequest.objects.filter(
                requested_by_id__in=frontier, status__in=APPLIED, target__isnull=False
            ).values_list("target_id", flat=True)
        )
        frontier = targets - found - {user.pk}
        found |= frontier
    return found


def staff_linked(a: User, b: User) -> bool:
    """Whether one of ``a`` and ``b`` may control the other's account (see above)."""
    return a.pk in staff_sponsored_by(b) or b.pk in staff_sponsored_by(a)


def staff_linked_to_any(actor: User, user_ids: list[int]) -> bool:
    """Whether ``actor`` is, or may control or be controlled by, any of these accounts: the
    four-eyes rule of a publication (site page, channel post) holds against sockpuppets too."""
    ids = set(user_ids)
    if actor.pk in ids:
        return True
    if ids & staff_sponsored_by(actor):
        return True
    return any(actor.pk in staff_sponsored_by(user) for user in User.objects.filter(pk__in=ids))


# --- Enrolment links ---------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    # The token carries 256 random bits: a plain SHA-256 cannot be reversed or guessed.
    return hashlib.sha256(token.encode()).hexdigest()


def _revoke_links(user: User) -> None:
    EnrolmentLink.objects.filter(user=user, used_at__isnull=True).update(used_at=timezone.now())


def _issue_link(*, actor: User, change: StaffChangeRequest) -> str:
    target = change.target
    assert target is not None  # noqa: S101 - callers check
    _revoke_links(target)
    token = secrets.token_urlsafe(32)
    hours = settings.LIFELINE_ENROLMENT_LINK_HOURS
    EnrolmentLink.objects.create(
        user=target,
        change=change,
        token_hash=_token_hash(token),
        expires_at=timezone.now() + timedelta(hours=hours),
    )
    change.link_issued_at = timezone.now()
    change.save(update_fields=["link_issued_at"])
    _audit(actor, "staff.enrolment_link_issued", target.pk, ["enrolment_link"])
    return token


@transaction.atomic
def staff_issue_link(*, actor: User, change: StaffChangeRequest) -> str:
    """The requester of an approved new account or password reset gets its enrolment link,
    once. Returns the token (to put after ``#`` in the link, see ``enrolment_url``)."""
    _check_manager(actor)
    locked = StaffChangeRequest.objects.select_for_update().get(pk=change.pk)
    if locked.requested_by_id != actor.pk:
        raise PermissionDenied(_("Only the person who asked receives the enrolment link."))
    if (
        locked.status not in APPLIED
        or locked.kind not in LINK_KINDS
        or locked.link_issued_at is not None
        or locked.target is None
    ):
        raise ValidationError(
            _("There is no enrolment link to show for this request (it is shown once).")
        )
    if locked.target.has_usable_password():
        raise ValidationError(_("This account has set its password already."))
    return _issue_link(actor=actor, change=locked)


def enrolment_link_for(token: str, *, lock: bool = False) -> EnrolmentLink:
    """The valid (unused, unexpired) link for ``token``; ``Http404`` for anything else."""
    if not token or len(token) > 100:
        raise Http404
    links = EnrolmentLink.objects.select_related("user")
    if lock:
        links = links.select_for_update()
    link = links.filter(
        token_hash=_token_hash(token), used_at__isnull=True, expires_at__gt=timezone.now()
    ).first()
    if link is None or not link.user.is_active:
        raise Http404
    return link


@transaction.atomic
def staff_enrol(*, token: str, password: str) -> User:
    """The account's owner sets his password through the link; the link is then spent. He
    enrols his authenticator at his first login, as usual."""
    link = enrolment_link_for(token, lock=True)
    user = link.user
    validate_password(password, user)
    user.set_password(password)
    _end_sessions(user)
    user.save(update_fields=["password", "session_epoch"])
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    _audit(user, "staff.enrolled", user.pk, ["password"])
    return user


# --- Lockout -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lockout:
    unknown_clients: bool  # locked for browsers that have not signed in to this account
    devices: int  # browsers that signed in before and are locked now


def staff_lockout(user: User) -> Lockout:
    """Where ``user``'s sign-in is locked after failed passwords (see console/security.py)."""
    from axes.models import AccessAttempt

    since = timezone.now() - timedelta(hours=settings.AXES_COOLOFF_TIME)
    locked = AccessAttempt.objects.filter(
        username=user.username,
        attempt_time__gte=since,
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
    ).values_list("ip_address", flat=True)
    keys = list(locked)
    return Lockout(
        unknown_clients=UNKNOWN_CLIENT in keys,
        devices=sum(1 for key in keys if key != UNKNOWN_CLIENT),
    )


@transaction.atomic
def staff_unlock(*, actor: User, user: User) -> None:
    """Clear the failed-login lockouts of an account, for every browser."""
    from axes.utils import reset

    _check_manager(actor, user)
    reset(username=user.username)
    _audit(actor, "staff.unlocked", user.pk, ["lockout"])
