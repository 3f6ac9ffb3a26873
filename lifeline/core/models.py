"""Base models and the staff account."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, cast

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from . import keystore
from .fields import EncryptedField


class SealedModel(models.Model):
    """A model holding encrypted fields: its UUID key exists before the first INSERT, so each
    ciphertext can be bound to its row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    #: The lookup from a row to the case or contact whose data key seals it ("case",
    #: "conversation__contact"); empty: the root key seals it.
    key_owner_path: ClassVar[str] = ""

    #: Columns holding blind indexes, recomputed on every save.
    blind_index_columns: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.refresh_blind_indexes()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and self.blind_index_columns:
            kwargs["update_fields"] = list({*update_fields, *self.blind_index_columns})
        update_fields = kwargs.get("update_fields")
        if isinstance(self, KeyOwner) and self.data_key is None and self.key_owner() is self:
            keystore.key_of(self)  # the row's own key, named in its own INSERT or UPDATE
            if update_fields is not None:
                kwargs["update_fields"] = list({*update_fields, "data_key"})
        super().save(*args, **kwargs)

    def sealing_key(self) -> keystore.DataKey | None:
        """The data key this row's fields are sealed under: its owner's (a case's, a
        contact's), so that destroying that one key erases them; None: the root key."""
        owner = self.key_owner()
        return None if owner is None else keystore.key_of(owner)

    def key_owner(self) -> KeyOwner | None:
        """The case or contact whose data key seals this row (by ``key_owner_path``)."""
        owner: Any = self
        for part in filter(None, self.key_owner_path.split("__")):
            owner = getattr(owner, part)
            if owner is None:
                return None  # not (yet) anybody's: the root key seals it
        return None if owner is self else cast(KeyOwner, owner)

    @classmethod
    def encrypted_fields(cls) -> list[EncryptedField]:
        """The encrypted columns (re-sealed by ``manage.py rotate_keys``)."""
        return [f for f in cls._meta.concrete_fields if isinstance(f, EncryptedField)]

    def refresh_blind_indexes(self) -> None:
        """Recompute blind-index columns from plaintext; models with indexes override it."""

    #: Every column holding a keyed hash of this row's plaintext, recomputed by
    #: :meth:`reindex` when the blind-index key is rotated (``manage.py rotate_blind_index``).
    reindex_columns: ClassVar[tuple[str, ...]] = ()

    def reindex(self) -> None:
        """Recompute :attr:`reindex_columns` under the newest blind-index key."""
        self.refresh_blind_indexes()


class KeyOwner(SealedModel):
    """A row with a data key of its own in the key store (:mod:`lifeline.core.keystore`): a
    case, a contact. Its fields, and those of the rows that belong to it, are sealed under it;
    destroying it (:func:`shred_key`) erases them in every copy of the database."""

    data_key = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def key_owner(self) -> KeyOwner | None:
        return self


class KeyOwnerWhenAlone(KeyOwner):
    """A row that belongs to a person when it can (``key_owner_path``: a call from a known
    number, a flow run in his conversation), and is otherwise sealed under a data key of its own
    (a call from an unknown number, the operator's phone script), so that erasing it reaches
    older copies too."""

    class Meta:
        abstract = True

    def key_owner(self) -> KeyOwner | None:
        return SealedModel.key_owner(self) or self


class KeyShred(models.Model):
    """A data key to destroy in the key store, written in the erasure's own transaction and
    deleted once the key is gone (the purge finishes any a crashed process left)."""

    key = models.UUIDField(primary_key=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"key shred {self.key}"


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


#: Roles that see personal data (ARCHITECTURE §4). Granting one of them, or taking over an
#: account, needs a second supervisor (``lifeline.core.staff``).
PERSONAL_DATA_ROLES = frozenset({Role.OPERATOR, Role.VERIFIER, Role.SUPERVISOR, Role.LIAISON})


class StaffChangeKind(models.TextChoices):
    CREATE = "create", _("Create an account")
    SET_ROLE = "set_role", _("Change the role")
    ENABLE = "enable", _("Enable the account")
    RESET_PASSWORD = "reset_password", _("Reset the password")
    RESET_TOTP = "reset_totp", _("Reset the authenticator")


class StaffChangeStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    REFUSED = "refused", _("Refused")
    CANCELLED = "cancelled", _("Cancelled")
    # Done at once, without approval: it grants no access to personal data (a press or admin
    # account created with an enrolment link). Kept so that ``staff_sponsored_by`` sees it.
    DIRECT = "direct", _("Done without approval")


class StaffChangeRequest(models.Model):
    """A staff change that grants access to personal data or takes over an account: it waits
    for a supervisor other than the requester (``lifeline.core.staff``)."""

    kind = models.CharField(max_length=16, choices=StaffChangeKind.choices)
    status = models.CharField(
        max_length=16, choices=StaffChangeStatus.choices, default=StaffChangeStatus.PENDING
    )
    # The account changed; for ``create``, set when the account is made (on approval).
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff_changes",
    )
    username = models.CharField(max_length=150, blank=True)  # ``create`` only
    role = models.CharField(max_length=16, choices=Role.choices, blank=True)  # create, set_role
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff_changes_requested"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff_changes_decided",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # When the requester was shown the enrolment link (create, reset_password): once only.
    link_issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            # Nobody decides his own request, enforced by the database too.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="staff_change_two_person_rule",
            ),
            models.UniqueConstraint(
                fields=["kind", "target"],
                condition=Q(status="pending", target__isnull=False),
                name="staff_change_one_pending_per_account",
            ),
            models.UniqueConstraint(
                Lower("username"),
                condition=Q(status="pending", kind="create"),
                name="staff_change_one_pending_per_username",
            ),
        ]

    def __str__(self) -> str:
        return f"staff change {self.pk} {self.kind} ({self.status})"


class EnrolmentLink(models.Model):
    """A one-time link where a person sets his own password. Only a SHA-256 of the random
    token is kept; the token itself is shown once to the person who hands it over."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolment_links"
    )
    change = models.ForeignKey(
        StaffChangeRequest, on_delete=models.PROTECT, related_name="enrolment_links"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"enrolment link {self.pk} for user {self.user_id}"
