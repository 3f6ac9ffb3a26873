"""Phone calls as the PBX reports them (CTI), and the block list."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from lifeline.contacts.models import Contact
from lifeline.core import crypto
from lifeline.core.fields import EncryptedTextField
from lifeline.core.models import KeyOwner


def _phone_index_or_blank(number: str | None) -> str:
    try:
        return crypto.phone_index(number) if number else ""
    except crypto.BlindIndexError:
        return ""


class CallStatus(models.TextChoices):
    RINGING = "ringing", _("Ringing")  # newCall received, nobody answered yet
    ANSWERED = "answered", _("Answered")  # an operator picked up
    ENDED = "ended", _("Ended")  # answered, then hung up
    MISSED = "missed", _("Missed")  # hung up while ringing
    REJECTED = "rejected", _("Rejected")  # blocked number


class Call(KeyOwner):
    """One phone call, from ring to hangup. The caller's number is encrypted, with a blind
    index for look-ups."""

    call_id = models.CharField(max_length=128)
    pbx = models.CharField(max_length=64)
    direction = models.CharField(max_length=8, default="in")
    caller = EncryptedTextField()
    caller_index = models.CharField(max_length=32, blank=True, default="", db_index=True)
    reindex_columns = ("caller_index",)
    line = models.CharField(max_length=32, blank=True, default="")  # the hotline's number
    queue = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.RINGING)
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls",
    )
    ringing_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cause = models.CharField(max_length=64, blank=True, default="")
    seen_at = models.DateTimeField(null=True, blank=True)  # a missed call looked at

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pbx", "call_id"], name="call_unique_per_pbx"),
        ]
        indexes = [models.Index(fields=["status", "ringing_at"])]

    def reindex(self) -> None:
        self.caller_index = _phone_index_or_blank(self.caller)

    def __str__(self) -> str:
        return f"call {self.call_id} ({self.status})"


class BlockRule(models.Model):
    """A blocked caller: one exact number (by blind index), or a prefix (not personal)."""

    number_index = models.CharField(max_length=32, blank=True, default="", db_index=True)
    # Which blind-index key made ``number_index`` (crypto.blind_index_key_id): the number itself
    # is not kept, so a key rotation carries the rule over when the number calls again.
    index_key = models.CharField(max_length=16, blank=True, default="")
    prefix = models.CharField(max_length=16, blank=True, default="")
    note = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"block {self.prefix or 'number'}"


class CallbackStatus(models.TextChoices):
    OPEN = "open", _("Waiting for a call back")
    DONE = "done", _("Called back")
    CANCELLED = "cancelled", _("Cancelled")


class CallbackRequest(KeyOwner):
    """The person asked to be called back on a number at a time that is safe for him. Only such
    a request makes a call back possible: a number is never called just because it rang (a call
    to a soldier's phone can expose him). Number and safe time are encrypted."""

    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="callbacks"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="callbacks",
    )
    number = EncryptedTextField()
    number_index = models.CharField(max_length=32, blank=True, default="", db_index=True)
    reindex_columns = ("number_index",)
    safe_time = EncryptedTextField()
    status = models.CharField(
        max_length=16, choices=CallbackStatus.choices, default=CallbackStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)

    def reindex(self) -> None:
        self.number_index = _phone_index_or_blank(self.number)

    def __str__(self) -> str:
        return f"call back {str(self.pk)[:8]} ({self.status})"
