"""Base models and the staff account."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from .fields import EncryptedField


class SealedModel(models.Model):
    """A model holding encrypted fields: its UUID key exists before the first INSERT, so each
    ciphertext can be bound to its row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    #: Columns holding blind indexes, recomputed on every save.
    blind_index_columns: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.refresh_blind_indexes()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and self.blind_index_columns:
            kwargs["update_fields"] = list({*update_fields, *self.blind_index_columns})
        super().save(*args, **kwargs)

    @classmethod
    def encrypted_fields(cls) -> list[EncryptedField]:
        """The encrypted columns (re-sealed by ``manage.py rotate_keys``)."""
        return [f for f in cls._meta.concrete_fields if isinstance(f, EncryptedField)]

    def refresh_blind_indexes(self) -> None:
        """Recompute blind-index columns from plaintext; models with indexes override it."""


class Role(models.TextChoices):
    """Staff roles, as ARCHITECTURE §4. What each may do is enforced in the services."""

    OPERATOR = "operator", _("Operator")  # answers people, runs scripts, creates applications
    VERIFIER = "verifier", _("Verifier")  # checks applications, verifies or rejects
    SUPERVISOR = "supervisor", _("Supervisor")  # all cases, assigns, approves operations
    LIAISON = "liaison", _("Liaison")  # the military unit's contact: cases in operation only
    PRESS = "press", _("Press officer")  # aggregated figures, broadcasts, website pages
    ADMIN = "admin", _("Administrator")  # staff accounts and keys; no personal data


class User(AbstractUser):
    """A staff account. Applicants never have one."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OPERATOR)
    # Bumped to end every live session of the account (disable, TOTP reset, role change).
    session_epoch = models.PositiveIntegerField(default=0, editable=False)
    # Operators mark themselves on shift; auto-assignment only picks those on shift.
    on_shift = models.BooleanField(default=False)
    # When the account was disabled, and who did it, are in the audit log.

    def has_role(self, *roles: str) -> bool:
        return self.is_active and self.role in roles

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django checks this hash on every request: binding it to session_epoch means that
        # bumping the epoch logs the account out everywhere, whatever the session backend.
        return salted_hmac(
            "lifeline.core.User.session_auth_hash",
            f"{self.password}|{self.session_epoch}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()
