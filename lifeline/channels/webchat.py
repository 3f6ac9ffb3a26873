"""The public web chat's inbox handler. Views are in :mod:`lifeline.public.views`.

A visitor is an anonymous random token in an HttpOnly cookie; the token is stored encrypted
(with a blind index to find it), never with an IP address or user agent.
"""

from __future__ import annotations

import re
import secrets
import uuid

from django.core import signing
from django.db import transaction
from django.utils import timezone

from lifeline.contacts.models import Identity
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.host import Reply, conversation_input
from lifeline.conversations.models import Conversation, ConversationStatus
from lifeline.core import crypto
from lifeline.core.channels import Channel
from lifeline.core.db import serial_write

from . import inbox
from .models import InboundEvent

COOKIE = "lifeline_chat"
MAX_TEXT = 2000
MAX_TOKEN = 128  # a signed token is about 70 characters; anything longer is not ours
_SIGNER = signing.Signer(salt="lifeline.webchat.token")
_MESSAGE_ID = re.compile(r"[0-9a-f]{8,64}")


def new_token() -> str:
    """A fresh visitor token, signed by the server: the chat accepts no token it did not issue,
    so a token planted in a browser (session fixation) is replaced, never adopted."""
    return _SIGNER.sign(secrets.token_urlsafe(32))


def valid_token(value: str | None) -> str | None:
    """The token if the server issued it, else None (forged, malformed, too long)."""
    if not value or len(value) > MAX_TOKEN or not value.isascii():
        return None
    try:
        _SIGNER.unsign(value)
    except signing.BadSignature:
        return None
    return value


def message_id_or_new(value: str | None) -> str:
    """The page's idempotency id for a message: hex only, else a fresh one."""
    value = (value or "").strip().lower()
    return value if _MESSAGE_ID.fullmatch(value) else uuid.uuid4().hex


def ordering_key(token: str) -> str:
    return crypto.web_token_index(token)


def conversation_for(
    token: str, *, create: bool = False, language: str = "ru"
) -> Conversation | None:
    identity: Identity | None
    if not create and valid_token(token) is None:
        return None  # not a token this server issued: it has no conversation
    if create:
        identity = identity_get_or_create(channel=Channel.WEB, address=token, language=language)
    else:
        identity = Identity.objects.filter(
            channel=Channel.WEB, address_index=ordering_key(token)
        ).first()
    if identity is None:
        return None
    conversation = (
        Conversation.objects.filter(identity=identity)
        .exclude(status=ConversationStatus.CLOSED)
        .order_by("-created_at")
        .first()
    )
    if conversation is None and create:
        conversation = Conversation.objects.create(
            contact=identity.contact, identity=identity, channel=Channel.WEB, language=language
        )
    return conversation


def submit(*, token: str, message_id: str, text: str, language: str) -> inbox.Stored:
    """Store one message from the page (idempotent on the page's message id)."""
    key = ordering_key(token)
    return inbox.inbound_store(
        channel=Channel.WEB,
        external_id=f"{key}:{message_id}"[:128],
        payload={"token": token, "text": text, "language": language},
        ordering_key=key,
    )


def handle_event(event: InboundEvent) -> tuple[Conversation | None, list[Reply]]:
    payload = event.payload or {}
    conversation = conversation_for(
        str(payload["token"]), create=True, language=str(payload.get("language") or "ru")
    )
    assert conversation is not None  # noqa: S101 - create=True always gives one
    replies = conversation_input(conversation, str(payload.get("text", "")))
    # The page shows the stored messages; only a secret reply (the code words, stored there as
    # a placeholder) waits in the outbox, until the page shows it once (see secrets_to_show).
    return conversation, [reply for reply in replies if reply.secret]


def secrets_to_show(conversation: Conversation) -> dict[uuid.UUID, str]:
    """Secret replies not yet shown (transcript row id -> text). Showing them is their one
    delivery: they are marked sent and their text replaced by the placeholder at once."""
    from .models import OutboundMessage, OutboundStatus
    from .outbox import forget_secret_text

    shown: dict[uuid.UUID, str] = {}
    waiting = OutboundMessage.objects.filter(
        conversation=conversation,
        channel=Channel.WEB,
        secret=True,
        status=OutboundStatus.PENDING,
    )
    if not waiting.exists():  # the usual case: a read, no write turn taken
        return shown
    with serial_write(), transaction.atomic():
        rows = waiting.select_for_update()
        for row in rows:
            if row.message_id is not None:
                shown[row.message_id] = row.text or ""
            row.status = OutboundStatus.SENT
            row.sent_at = timezone.now()
            forget_secret_text(row)
            row.save(update_fields=["status", "sent_at", "text"])
    return shown


def pending(token: str) -> bool:
    from .models import InboundStatus

    return InboundEvent.objects.filter(
        channel=Channel.WEB, ordering_key=ordering_key(token), status=InboundStatus.PENDING
    ).exists()


def operator_expected(token: str) -> bool:
    """Whether the visitor's conversation is with an operator or waiting for one."""
    conversation = conversation_for(token)
    return conversation is not None and conversation.status in (
        ConversationStatus.WAITING,
        ConversationStatus.ACTIVE,
    )
