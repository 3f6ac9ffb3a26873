"""Conversations with contacts and their messages."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from lifeline.contacts.models import Contact, Identity
from lifeline.core.channels import Channel, Language
from lifeline.core.fields import EncryptedTextField
from lifeline.core.models import SealedModel


class ConversationStatus(models.TextChoices):
    BOT = "bot", _("With the bot")  # a flow is answering
    WAITING = "waiting", _("Waiting for an operator")  # handed off, nobody has taken it yet
    ACTIVE = "active", _("With an operator")  # an operator is answering
    CLOSED = "closed", _("Closed")  # finished; a new message reopens it


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
    sender = models.ForeignKey(  # the operator who wrote an outbound message; null for the bot
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.direction} message {str(self.pk)[:8]}"
