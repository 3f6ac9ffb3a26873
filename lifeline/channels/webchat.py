"""The public web chat's inbox handler. Views are in :mod:`lifeline.public.views`.

A visitor is an anonymous random token in an HttpOnly cookie; the token is stored encrypted
(with a blind index to find it), never with an IP address or user agent.
"""

from __future__ import annotations

import secrets

from lifeline.contacts.models import Identity
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.host import Reply, conversation_input
from lifeline.conversations.models import Conversation, ConversationStatus
from lifeline.core import crypto
from lifeline.core.channels import Channel

from . import inbox
from .models import InboundEvent

COOKIE = "lifeline_chat"
MAX_TEXT = 2000


def new_token() -> str:
    return secrets.token_urlsafe(32)


def ordering_key(token: str) -> str:
    return crypto.web_token_index(token)


def conversation_for(
    token: str, *, create: bool = False, language: str = "ru"
) -> Conversation | None:
    identity: Identity | None
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
    conversation_input(conversation, str(payload.get("text", "")))
    return conversation, []  # the page shows the stored messages: nothing to send


def pending(token: str) -> bool:
    from .models import InboundStatus

    return InboundEvent.objects.filter(
        channel=Channel.WEB, ordering_key=ordering_key(token), status=InboundStatus.PENDING
    ).exists()
