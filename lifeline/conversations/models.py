"""Conversations with contacts and their messages."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from lifeline.contacts.models import Contact, Identity
from lifeline.core.channels import Channel, Language
from lifeline.core.fields import EncryptedJSONField, EncryptedTextField
from lifeline.core.models import SealedModel


class ConversationStatus(models.TextChoices):
    BOT = "bot", _("With the bot")  # a flow is answering
    WAITING = "waiting", _("Waiting for an operator")  # handed off, nobody has taken it yet
    ACTIVE = "active", _("With an operator")  # an operator is answering
    CLOSED = "closed", _("Closed")  # finished; a new message reopens it


class WaitingReason(models.TextChoices):
    """Why a conversation is in the queue: shown on its row, kept while it is about that."""

    NONE = "", _("—")
    FRONT = "front", _("At the front, identified")
    FRONT_UNVERIFIED = "front_unverified", _("At the front, not yet identified")
    AFTER_APPLICATION = "after_application", _("Wrote after applying")
    HANDOFF = "handoff", _("The bot could not help")


class Conversation(SealedModel):
    """One thread with a contact on one channel."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    identity = models.ForeignKey(
        Identity, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.RU)
    status = models.CharField(
        max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.BOT
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    # 1 = a stage-2 alert (a man at the front): first in the operators' queue.
    priority = models.PositiveSmallIntegerField(default=0)
    waiting_reason = models.CharField(
        max_length=24, choices=WaitingReason.choices, blank=True, default=""
    )
    # A command waiting for confirmation ("forget"), so the next answer can confirm it.
    pending_command = models.CharField(max_length=16, blank=True, default="")
    # When the last outbound message left: the per-chat rate limit (Telegram: ~1 per second).
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "waiting_since"])]

    def __str__(self) -> str:
        return f"{self.channel} conversation {str(self.pk)[:8]}"


class Direction(models.TextChoices):
    IN = "in", _("From the person")
    OUT = "out", _("To the person")


class Message(SealedModel):
    """One inbound or outbound message; its text is encrypted."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    text = EncryptedTextField()
    buttons = EncryptedJSONField()  # the answer buttons shown with an outbound message
    sender = models.ForeignKey(  # the operator who wrote an outbound message; null for the bot
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.direction} message {str(self.pk)[:8]}"


class FlowVersion(models.Model):
    """The source of one version of a flow, kept so runs stay on the version they started on.
    Editing a flow file means raising its ``version``; the old version stays here."""

    name = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    source = models.TextField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="flow_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class FlowRunStatus(models.TextChoices):
    ACTIVE = "active", _("Active")  # waiting for the person or for the host
    ENDED = "ended", _("Ended")  # reached its end
    HANDED_OFF = "handed_off", _("Handed to an operator")  # too many unfitting answers, or asked
    EXPIRED = "expired", _("Expired")  # silent too long
    CANCELLED = "cancelled", _("Cancelled")  # /start, /forget, or an operator took over


class FlowRun(SealedModel):
    """One walk through a flow. Its state (answers included) is encrypted."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="runs"
    )
    operator = models.ForeignKey(  # set when staff run a script (phone calls)
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="script_runs",
    )
    flow = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=FlowRunStatus.choices, default=FlowRunStatus.ACTIVE
    )
    state = EncryptedJSONField()
    case = models.ForeignKey(
        "cases.Case", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    failed_reidentifications = models.PositiveSmallIntegerField(default=0)
    reidentified_by = models.CharField(max_length=16, blank=True, default="")  # codename, ...
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "status"])]

    def __str__(self) -> str:
        return f"{self.flow} v{self.version} ({self.status})"
