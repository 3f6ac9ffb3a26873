"""Conversations with contacts and their messages."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from lifeline.contacts.models import Contact, Identity
from lifeline.core.channels import Channel, Language
from lifeline.core.fields import EncryptedBytesField, EncryptedJSONField, EncryptedTextField
from lifeline.core.models import KeyOwner, KeyOwnerWhenAlone, SealedModel


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


class Conversation(KeyOwner):
    """One thread with a contact on one channel. Its transcript (messages, attachments, notes,
    flow answers, outbox rows) is sealed under its own data key: purging it destroys the key,
    and what he writes afterwards opens a new conversation, with a new key."""

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
    # When its operator last had the messages on screen, and how many of the person's messages
    # came for a human since (counted while it waits for or is with an operator).
    read_at = models.DateTimeField(null=True, blank=True)
    unread = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["status", "waiting_since"])]

    def __str__(self) -> str:
        return f"{self.channel} conversation {str(self.pk)[:8]}"


class Direction(models.TextChoices):
    IN = "in", _("From the person")
    OUT = "out", _("To the person")


class Message(SealedModel):
    """One inbound or outbound message; its text is encrypted."""

    key_owner_path = "conversation"

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


class MediaKind(models.TextChoices):
    PHOTO = "photo", _("Photo")
    VOICE = "voice", _("Voice message")


class MediaStatus(models.TextChoices):
    PENDING = "pending", _("Being fetched")
    READY = "ready", _("Ready")
    REFUSED = "refused", _("Could not be read")


class Attachment(SealedModel):
    """A photo (re-encoded, metadata gone) or a voice message that came with a message.
    The bytes are encrypted like any other personal data."""

    key_owner_path = "message__conversation"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="attachment")
    kind = models.CharField(max_length=8, choices=MediaKind.choices)
    status = models.CharField(
        max_length=8, choices=MediaStatus.choices, default=MediaStatus.PENDING
    )
    content = EncryptedBytesField()
    content_type = models.CharField(max_length=32, blank=True, default="")
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {str(self.pk)[:8]} ({self.status})"


class Note(SealedModel):
    """A note staff leave on a conversation for each other. Never sent to the person."""

    key_owner_path = "conversation"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    text = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"note {str(self.pk)[:8]}"


class CannedAnswer(models.Model):
    """A ready answer an operator may put in the reply box and edit before sending. Written,
    changed and retired by supervisors in the console; not personal data."""

    language = models.CharField(max_length=2, choices=Language.choices)
    title = models.CharField(_("title"), max_length=80)
    text = models.TextField(_("text"), max_length=2000)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)  # order within its language
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["language", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.language}: {self.title}"


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


class FlowRun(KeyOwnerWhenAlone):
    """One walk through a flow. Its state (answers included) is encrypted."""

    key_owner_path = "conversation"

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
