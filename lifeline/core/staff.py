"""Managing staff accounts. Every change is audited; every change that matters for security
ends the account's live sessions (``session_epoch``)."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from lifeline.audit.services import audit_record

from .models import Role, User

#: Who may manage staff accounts.
STAFF_MANAGER_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


def _check_manager(actor: User, target: User | None = None) -> None:
    if not actor.is_active or actor.role not in STAFF_MANAGER_ROLES:
        raise PermissionDenied(_("Only supervisors and administrators manage staff accounts."))
    if target is not None and target.pk == actor.pk:
        raise PermissionDenied(
            _("Ask another supervisor or administrator to change your own account.")
        )


def _end_sessions(user: User) -> None:
    user.session_epoch += 1


@transaction.atomic
def staff_create(*, actor: User, username: str, role: str, password: str) -> User:
    _check_manager(actor)
    username = username.strip()
    if not username:
        raise ValidationError(_("A username is required."))
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(_("This username is taken."))
    if role not in Role.values:
        raise ValidationError(_("Unknown role."))
    user = User(username=username, role=role)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    audit_record(
        actor=actor,
        action="staff.created",
        object_type="user",
        object_id=user.pk,
        fields=["username", "role", "password"],
    )
    return user


@transaction.atomic
def staff_set_role(*, actor: User, user: User, role: str) -> User:
    _check_manager(actor, user)
    if role not in Role.values:
        raise ValidationError(_("Unknown role."))
    if user.role != role:
        user.role = role
        _end_sessions(user)
        user.save(update_fields=["role", "session_epoch"])
        audit_record(
            actor=actor,
            action="staff.role_changed",
            object_type="user",
            object_id=user.pk,
            fields=["role"],
        )
    return user


@transaction.atomic
def staff_disable(*, actor: User, user: User) -> User:
    _check_manager(actor, user)
    user.is_active = False
    _end_sessions(user)
    user.save(update_fields=["is_active", "session_epoch"])
    audit_record(
        actor=actor,
        action="staff.disabled",
        object_type="user",
        object_id=user.pk,
        fields=["is_active"],
    )
    return user


@transaction.atomic
def staff_enable(*, actor: User, user: User) -> User:
    _check_manager(actor, user)
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(
        actor=actor,
        action="staff.enabled",
        object_type="user",
        object_id=user.pk,
        fields=["is_active"],
    )
    return user


@transaction.atomic
def staff_reset_totp(*, actor: User, user: User) -> User:
    """Remove the account's authenticators: it enrols again at its next login."""
    _check_manager(actor, user)
    TOTPDevice.objects.filter(user=user).delete()
    _end_sessions(user)
    user.save(update_fields=["session_epoch"])
    audit_record(
        actor=actor,
        action="staff.totp_reset",
        object_type="user",
        object_id=user.pk,
        fields=["totp_device"],
    )
    return user


@transaction.atomic
def staff_unlock(*, actor: User, user: User) -> None:
    """Clear the failed-login lockout of an account."""
    from axes.utils import reset

    _check_manager(actor, user)
    reset(username=user.username)
    audit_record(
        actor=actor,
        action="staff.unlocked",
        object_type="user",
        object_id=user.pk,
        fields=["lockout"],
    )


@transaction.atomic
def staff_set_password(*, actor: User, user: User, password: str) -> User:
    _check_manager(actor, user)
    validate_password(password, user)
    user.set_password(password)  # changes the session hash: live sessions end
    user.save(update_fields=["password"])
    audit_record(
        actor=actor,
        action="staff.password_set",
        object_type="user",
        object_id=user.pk,
        fields=["password"],
    )
    return user
