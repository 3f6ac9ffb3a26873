"""The public web chat's inbox handler. Views are in :mod:`lifeline.public.views`.

A visitor is an anonymous random key in an HttpOnly cookie, with a secret that changes at every
message (see :class:`Device`); the key is stored encrypted (with a blind index to find it), the
secret only as a keyed hash, never with an IP address or user agent.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from hmac import compare_digest

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from lifeline.contacts.models import Contact, Identity
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.host import Reply, conversation_input
from lifeline.conversations.models import Conversation, ConversationStatus
from lifeline.core import crypto
from lifeline.core.channels import Channel
from lifeline.core.db import serial_write
from lifeline.stats.services import stat_record

from . import inbox
from .models import InboundEvent

COOKIE = "lifeline_chat"
MAX_TEXT = 2000
MAX_TOKEN = 160  # a signed token is about 130 characters; anything longer is not ours
_SIGNER = signing.Signer(salt="lifeline.webchat.token")
_MESSAGE_ID = re.compile(r"[0-9a-f]{8,64}")
_PART = re.compile(r"[A-Za-z0-9_-]{32,64}")
#: A doubled submit of one form (the same page's message id) gets the same token back, but only
#: this long after the first, and only while the device has sent nothing since.
RESUBMIT_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class Device:
    """What a browser's chat cookie carries, signed by the server.

    ``key`` names the conversation's identity for as long as it lasts (it is the identity's
    address and, through its blind index, the inbox's ordering key). ``secret`` is good for one
    message: every message the device sends swaps it for a new one that only this browser
    receives, and the identity keeps a keyed hash of the current one. So a cookie planted in a
    victim's browser (session fixation), copied from it, or kept after "end chat" goes dead at
    the first message the rightful device sends, and never reads what follows."""

    key: str
    secret: str = field(repr=False)

    @property
    def cookie(self) -> str:
        return _SIGNER.sign(f"{self.key}.{self.secret}")

    @property
    def ordering_key(self) -> str:
        return ordering_key(self.key)


def read_cookie(value: str | None) -> Device | None:
    """The device if the server issued this cookie, else None (forged, malformed, too long)."""
    if not value or len(value) > MAX_TOKEN or not value.isascii():
        return None
    try:
        raw = _SIGNER.unsign(value)
    except signing.BadSignature:
        return None
    key, _dot, secret = raw.partition(".")
    if not (_PART.fullmatch(key) and _PART.fullmatch(secret)):
        return None
    return Device(key, secret)


def _tag(secret: str) -> str:
    return salted_hmac("lifeline.webchat.device", secret).hexdigest()[:32]


def _derive(purpose: str, *parts: str) -> str:
    return salted_hmac(f"lifeline.webchat.{purpose}", ":".join(parts)).hexdigest()[:43]


def _live(identity: Identity, now: datetime) -> bool:
    """Whether a device may still use this identity: not ended, not idle too long. Idle counts
    from the device's own last message, which nothing else (an operator's late answer) moves."""
    idle = timedelta(hours=settings.LIFELINE_WEBCHAT_IDLE_HOURS)
    return bool(identity.device_tag) and (
        identity.device_tag_at is not None and identity.device_tag_at > now - idle
    )


def _identity(key: str, *, lock: bool = False) -> Identity | None:
    rows = Identity.objects.filter(
        channel=Channel.WEB, address_index__in=crypto.lookup(crypto.web_token_index, key)
    )
    return (rows.select_for_update() if lock else rows).first()


def identity_for(device: Device | None) -> Identity | None:
    """The identity this device may use now: its secret must be the current one."""
    if device is None:
        return None
    identity = _identity(device.key)
    if identity is None or not _live(identity, timezone.now()):
        return None
    return identity if compare_digest(identity.device_tag, _tag(device.secret)) else None


def superseded(device: Device | None) -> bool:
    """A cookie this server issued whose identity lives on under a newer secret."""
    if device is None:
        return False
    identity = _identity(device.key)
    return (
        identity is not None
        and bool(identity.device_tag)
        and not compare_digest(identity.device_tag, _tag(device.secret))
    )


def device_post(value: str | None, message_id: str, *, language: str) -> Device:
    """The device a message is sent with: its current one with a fresh secret, or, when the
    cookie is missing, forged, stale, ended or idle, a new conversation's. Call inside a
    transaction; the caller sets the returned cookie whatever happens next."""
    now = timezone.now()
    device = read_cookie(value)
    if device is not None:
        identity = _identity(device.key, lock=True)
        if identity is not None and _live(identity, now):
            following = _derive("next", device.secret, message_id)
            if compare_digest(identity.device_tag, _tag(device.secret)):
                _set_tag(identity, following, now)
                return Device(device.key, following)
            if _resubmitted(identity, following, now):
                return Device(device.key, following)
    # A new conversation, under a key and secret only this response carries. Derived from the
    # cookie and the page's message id, so that a doubled submit of the first message lands in
    # the same conversation; a replay later than that gets a conversation of its own.
    key = _derive("key", value or "", message_id)
    secret = _derive("first", value or "", message_id)
    existing = _identity(key, lock=True)
    if existing is not None:
        if _resubmitted(existing, secret, now):
            return Device(key, secret)
        key, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(language=language)
            identity = Identity.objects.create(
                contact=contact,
                channel=Channel.WEB,
                address=key,
                device_tag=_tag(secret),
                device_tag_at=now,
            )
            stat_record(
                kind="contact.new", channel=Channel.WEB, language=language, at=identity.created_at
            )
    except IntegrityError:  # the same first message, doubled, at the same moment
        pass
    return Device(key, secret)


def _resubmitted(identity: Identity, secret: str, now: datetime) -> bool:
    return (
        compare_digest(identity.device_tag, _tag(secret))
        and identity.device_tag_at is not None
        and identity.device_tag_at > now - RESUBMIT_WINDOW
    )


def _set_tag(identity: Identity, secret: str, now: datetime) -> None:
    identity.device_tag = _tag(secret)
    identity.device_tag_at = now
    identity.save(update_fields=["device_tag", "device_tag_at"])


def end_device(device: Device | None) -> bool:
    """End this device's chat ("end chat"): no cookie reaches the conversation any more, which
    stays for the operators; a message still waiting in the inbox joins it. Only the current
    device may end it (a stale copy cannot end the rightful device's chat)."""
    if device is None:
        return False
    identity = _identity(device.key, lock=True)
    if identity is None or not compare_digest(identity.device_tag or "-", _tag(device.secret)):
        return False
    identity.device_tag = ""
    identity.save(update_fields=["device_tag"])
    return True


def message_id_or_new(value: str | None) -> str:
    """The page's idempotency id for a message: hex only, else a fresh one."""
    value = (value or "").strip().lower()
    return value if _MESSAGE_ID.fullmatch(value) else uuid.uuid4().hex


def ordering_key(key: str) -> str:
    return crypto.web_token_index(key)


def open_conversation(identity: Identity) -> Conversation | None:
    return (
        Conversation.objects.filter(identity=identity)
        .exclude(status=ConversationStatus.CLOSED)
        .order_by("-created_at")
        .first()
    )


def conversation_for(device: Device | None) -> Conversation | None:
    """The conversation this device may read now, if any."""
    identity = identity_for(device)
    return open_conversation(identity) if identity is not None else None


def _conversation_of_key(key: str, language: str) -> Conversation:
    """The inbox's side: the conversation of the identity a message was sent under (created
    with the conversation if this is its first message)."""
    identity = _identity(key) or identity_get_or_create(
        channel=Channel.WEB, address=key, language=language
    )
    conversation = open_conversation(identity)
    if conversation is None:
        conversation = Conversation.objects.create(
            contact=identity.contact, identity=identity, channel=Channel.WEB, language=language
        )
    return conversation


def submit(*, device: Device, message_id: str, text: str, language: str) -> inbox.Stored:
    """Store one message from the page, once: a doubled submit of one form (the same page's
    message id and text) is stored once; a page restored by the back button and sent with new
    text is kept. The page's id is not stored in clear: only a keyed hash of it and the text."""
    key = device.ordering_key
    once = salted_hmac("lifeline.webchat.message", f"{message_id}:{text}").hexdigest()[:32]
    return inbox.inbound_store(
        channel=Channel.WEB,
        external_id=f"{key}:{once}",
        payload={"key": device.key, "text": text, "language": language},
        ordering_key=key,
    )


def handle_event(event: InboundEvent) -> tuple[Conversation | None, list[Reply]]:
    payload = event.payload or {}
    key = payload.get("key") or payload.get("token")
    if not isinstance(key, str) or not key:
        raise ValueError("a web-chat event without its conversation key")
    conversation = _conversation_of_key(key, str(payload.get("language") or "ru"))
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


def pending(device: Device | None) -> bool:
    from .models import InboundStatus

    return device is not None and (
        InboundEvent.objects.filter(
            channel=Channel.WEB, ordering_key=device.ordering_key, status=InboundStatus.PENDING
        ).exists()
    )


def operator_expected(conversation: Conversation | None) -> bool:
    """Whether the visitor's conversation is with an operator or waiting for one."""
    return conversation is not None and conversation.status in (
        ConversationStatus.WAITING,
        ConversationStatus.ACTIVE,
    )
