"""Durable inbox and outbox between the channels (Telegram, web chat, phone) and the engine."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from lifeline.conversations.models import Conversation
from lifeline.core import keystore
from lifeline.core.channels import Channel
from lifeline.core.fields import EncryptedBytesField, EncryptedJSONField, EncryptedTextField
from lifeline.core.models import SealedModel


class InboundStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be processed")  # committed, acknowledged to the channel
    DONE = "done", _("Processed")  # its effects are committed; payload purged
    FAILED = "failed", _("Failed")  # gave up after retries; payload kept until resolved
    DISCARDED = "discarded", _("Discarded")  # a supervisor gave it up; payload purged
    BLOCKED = "blocked", _("Dropped: the sender is blocked")  # payload purged, not processed


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

    def sealing_key(self) -> keystore.DataKey:
        """What arrives is sealed under the hour's inbox key (keystore.inbox_key), which the
        retention turn destroys once the hour's events are processed."""
        return keystore.inbox_key()


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

    key_owner_path = "conversation"

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
    # A sender's lease while it sends the message; a lease that ran out (a crashed sender)
    # lets another sender take it (outbox: claims).
    claimed_until = models.DateTimeField(null=True, blank=True)
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
            # The senders' scan: pending rows in the order they were written.
            models.Index(
                fields=["created_at", "seq"],
                condition=models.Q(status="pending"),
                name="outbound_pending_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} outbound {str(self.pk)[:8]}"


class SendBudget(models.Model):
    """One row per sending lane: the shared pace of all workers (a locked row, so the limit
    holds across any number of them) and a pause the channel asked for (Telegram's 429). A
    lane is a channel ("telegram"), or its paid lane ("telegram+paid", outbox)."""

    channel = models.CharField(max_length=16, unique=True)
    next_free_at = models.DateTimeField(null=True, blank=True)  # the next send may start then
    paused_until = models.DateTimeField(null=True, blank=True)  # a 429 pauses the whole bot

    def __str__(self) -> str:
        return f"{self.channel} send budget"


class PostStatus(models.TextChoices):
    DRAFT = "draft", _("Not yet approved")  # being written or waiting for approval
    SCHEDULED = "scheduled", _("Approved, scheduled")  # its sends wait for their time
    PUBLISHED = "published", _("Published")  # every language's message reached its channel
    DELETED = "deleted", _("Deleted")  # removed from the channel (or never sent)


class ProposalState(models.TextChoices):
    NONE = "", _("No change proposed")
    EDITING = "editing", _("Being written")
    SUBMITTED = "submitted", _("Waiting for approval")


class ChannelPost(SealedModel):
    """A post to the hotline's public Telegram channels: a text per language (one channel per
    language, from settings), an optional picture re-encoded on the server. The press office
    proposes the texts; a supervisor who did not write them approves; then the outbox sends.
    Edits of a published post are proposed and approved the same way. Drafts are encrypted
    like everything else written in the console until they are published."""

    status = models.CharField(max_length=16, choices=PostStatus.choices, default=PostStatus.DRAFT)
    texts = EncryptedJSONField()  # the approved texts, {language: text}
    proposed = EncryptedJSONField()  # the texts being written or waiting for approval
    proposal = models.CharField(
        max_length=16, choices=ProposalState.choices, default=ProposalState.EDITING, blank=True
    )
    image = EncryptedBytesField()  # a re-encoded JPEG (no metadata), or None
    publish_at = models.DateTimeField(null=True, blank=True)  # None: as soon as approved
    editors = models.JSONField(default=list)  # everyone who wrote the proposal (none may approve)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True, default="")  # why sent back

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"channel post {str(self.pk)[:8]} ({self.status})"


class PostAction(models.TextChoices):
    POST = "post", _("Publish")
    EDIT = "edit", _("Edit")
    DELETE = "delete", _("Delete")


class PostDelivery(models.Model):
    """One send to one channel: the post's outbox. Each language's sends go in order (an edit
    waits for the message it edits); a failed send is retried with backoff like any reply."""

    post = models.ForeignKey(ChannelPost, on_delete=models.CASCADE, related_name="deliveries")
    language = models.CharField(max_length=2)
    target = models.CharField(max_length=64)  # the channel (@name or id), from settings
    action = models.CharField(max_length=8, choices=PostAction.choices)
    status = models.CharField(
        max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=32, blank=True, default="")  # the channel's message
    error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.language} → {self.target} ({self.status})"
