"""People who reached the hotline, and their channel addresses."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from lifeline.core import crypto
from lifeline.core.channels import Channel, Language
from lifeline.core.fields import EncryptedTextField
from lifeline.core.models import KeyOwner, SealedModel


class ContactKind(models.TextChoices):
    UNKNOWN = "unknown", _("Not yet known")  # has not said who they are
    SOLDIER = "soldier", _("Serviceman")  # writes about himself
    RELATIVE = "relative", _("Relative")  # writes for a serviceman
    OTHER = "other", _("Other")  # journalist, prankster, anyone else


class Contact(KeyOwner):
    """A person who reached the hotline; pseudonymous until they give data. His addresses,
    messages, answers and call backs are sealed under his own data key."""

    kind = models.CharField(max_length=16, choices=ContactKind.choices, default=ContactKind.UNKNOWN)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.RU)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Contact {str(self.pk)[:8]}"


class Identity(SealedModel):
    """A channel address of a contact (``telegram:<id>``, ``phone:<e164>``, ``web:<token>``).

    The address is stored encrypted; ``address_index`` is its blind index, for look-ups."""

    key_owner_path = "contact"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    address = EncryptedTextField()
    address_index = models.CharField(max_length=32, editable=False)
    # Web chat only: a keyed hash of the one device secret that may use this identity now
    # (it changes with every message the device sends; "" once the device's chat has ended),
    # and when it last changed. See :mod:`lifeline.channels.webchat`.
    device_tag = models.CharField(max_length=32, blank=True, default="", editable=False)
    device_tag_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    blind_index_columns = ("address_index",)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "address_index"], name="identity_unique_address"
            ),
        ]
        # New contacts an hour per channel (cases.suspicion: a burst).
        indexes = [models.Index(fields=["channel", "created_at"], name="identity_new_per_channel")]

    def __str__(self) -> str:
        return f"{self.channel} identity {str(self.pk)[:8]}"

    reindex_columns = ("address_index",)

    def refresh_blind_indexes(self) -> None:
        self.address_index = identity_index(self.channel, self.address)


def identity_index(channel: str, address: str) -> str:
    """Blind index of a channel address. Web tokens are random secrets: indexed as such."""
    if channel == Channel.TELEGRAM:
        return crypto.telegram_id_index(address)
    if channel == Channel.PHONE:
        return crypto.phone_index(address)
    return crypto.web_token_index(address)


class BlockReason(models.TextChoices):
    FLOOD = "flood", _("Flooding")
    PROBE = "probe", _("Probing, false applications")
    ABUSE = "abuse", _("Abuse or threats")
    OTHER = "other", _("Other")


class SenderBlock(models.Model):
    """A sender a supervisor blocked until a time: his Telegram account, web chat or phone
    number (the identity, known by its blind index). His messages are acknowledged and dropped
    before any processing (:mod:`lifeline.contacts.blocks`). No free text: a reason from a list."""

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="blocks")
    reason = models.CharField(max_length=16, choices=BlockReason.choices)
    until = models.DateTimeField(db_index=True)
    created_by = models.ForeignKey(
        "core.User", on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"block of {self.identity_id} until {self.until:%Y-%m-%d %H:%M}"
