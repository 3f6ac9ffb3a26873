"""Durable inbox and outbox between the channels (Telegram, web chat, phone) and the engine."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from lifeline.conversations.models import Conversation
from lifeline.core.channels import Channel
from lifeline.core.fields import EncryptedJSONField, EncryptedTextField
from lifeline.core.models import SealedModel


class InboundStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be processed")  # committed, acknowledged to the channel
    DONE = "done", _("Processed")  # its effects are committed; payload purged
    FAILED = "failed", _("Failed")  # gave up after retries; payload kept until resolved
    DISCARDED = "discarded", _("Discarded")  # a supervisor gave it up; payload purged


class InboundEvent(SealedModel):
    """The raw record of what a channel delivered; unique per (channel, external id)."""

    channel = models.CharField(max_length=16, choices=Channel.choices)
    external_id = models.CharField(max_length=128)
    payload = EncryptedJSONField()  # purged (set to NULL) once processed
    status = models.CharField(
        max_length=16, choices=InboundStatus.choices, default=InboundStatus.PENDING
    )
    # Events with the same key are processed one at a time, in ``arrival`` order: the key is
    # a blind index of the chat (Telegram) or session (web), never the address itself.
    ordering_key = models.CharField(max_length=64, blank=True, default="")
    arrival = models.BigIntegerField(default=0)  # Telegram's update_id; a clock for the web chat
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="inbound_unique_external_id"
            ),
        ]
        indexes = [models.Index(fields=["status", "ordering_key", "arrival"])]

    def __str__(self) -> str:
        return f"{self.channel} inbound {self.external_id}"


class OutboundStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")  # stored, not yet accepted by the channel
    SENT = "sent", _("Sent")  # the channel accepted it; never sent again
    FAILED = "failed", _("Failed")  # gave up; text kept until a supervisor resolves it
    DISCARDED = "discarded", _("Discarded")  # a supervisor gave it up; text purged


class OutboundKind(models.TextChoices):
    MESSAGE = "message", _("Message")  # a new message, with optional buttons
    EDIT = "edit", _("Edit")  # change an earlier message (e.g. show which button was pressed)
    CALLBACK = "callback", _("Button answer")  # acknowledge a button press (Telegram)
    FETCH = "fetch", _("Fetch a photo or voice message")  # download what the person sent


class OutboundMessage(SealedModel):
    """A reply waiting to be sent, with attempts and the channel's rate limits."""

    kind = models.CharField(
        max_length=16, choices=OutboundKind.choices, default=OutboundKind.MESSAGE
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="outbound"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    text = EncryptedTextField()
    buttons = EncryptedJSONField()
    status = models.CharField(
        max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    seq = models.BigIntegerField(default=0)  # order within the conversation
    sent_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=64, blank=True, default="")
    error = models.CharField(max_length=200, blank=True, default="")  # last failure, no content
    # A secret reply (it shows the person's code words): once sent, or given up, its text is
    # replaced by the transcript row's placeholder. On the web chat, "sent" means shown once.
    secret = models.BooleanField(default=False)
    message = models.ForeignKey(
        "conversations.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            # Replies are numbered under the conversation's row lock; this makes a slip loud.
            models.UniqueConstraint(fields=["conversation", "seq"], name="outbound_unique_seq"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["conversation", "status", "seq"]),
        ]

    def __str__(self) -> str:
        return f"{self.channel} outbound {str(self.pk)[:8]}"


class SendBudget(models.Model):
    """One row per sending channel: the shared pace of all workers (a locked row, so the limit
    holds across any number of them) and a pause the channel asked for (Telegram's 429)."""

    channel = models.CharField(max_length=16, choices=Channel.choices, unique=True)
    next_free_at = models.DateTimeField(null=True, blank=True)  # the next send may start then
    paused_until = models.DateTimeField(null=True, blank=True)  # a 429 pauses the whole bot

    def __str__(self) -> str:
        return f"{self.channel} send budget"
