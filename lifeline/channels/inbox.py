"""The durable inbox: store first (before acknowledging), process later, in order, once.

* :func:`inbound_store` commits an event before the channel gets its 2xx; a redelivery with the
  same (channel, external id) is a no-op.
* :func:`process_batch` takes the oldest pending events that are each first in their ordering
  key (a chat, a web session) — earlier events of the key all done — locks them (``FOR UPDATE
  SKIP LOCKED`` on PostgreSQL, so any number of workers can run), and in one transaction, each
  event in its own savepoint: runs the conversation, stores the replies in the outbox, marks the
  event done and purges its payload. A crash before the commit leaves the events pending; after
  it, nothing is left to redo — exactly-once effect.
  (On SQLite run one worker: it has no row locks.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from lifeline.contacts import blocks
from lifeline.conversations.delivery import Reply
from lifeline.conversations.models import Conversation
from lifeline.core.db import serial_write

from .models import InboundEvent, InboundStatus, OutboundKind, OutboundMessage

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Stored:
    event: InboundEvent
    created: bool


def inbound_store(
    *,
    channel: str,
    external_id: str,
    payload: dict[str, Any] | None,
    ordering_key: str,
    arrival: int | None = None,
) -> Stored:
    """Commit one delivered event. Returns ``created=False`` for a redelivery."""
    with serial_write():
        return _store(
            channel=channel,
            external_id=external_id,
            payload=payload,
            ordering_key=ordering_key,
            arrival=arrival,
        )


def _store(
    *,
    channel: str,
    external_id: str,
    payload: dict[str, Any] | None,
    ordering_key: str,
    arrival: int | None,
) -> Stored:
    existing = InboundEvent.objects.filter(channel=channel, external_id=external_id).first()
    if existing is not None:
        return Stored(existing, False)
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                channel=channel,
                external_id=external_id,
                payload=payload,
                ordering_key=ordering_key,
                arrival=arrival if arrival is not None else time.time_ns(),
            )
    except IntegrityError:  # the same update delivered twice at once
        return Stored(InboundEvent.objects.get(channel=channel, external_id=external_id), False)
    return Stored(event, True)


def inbound_accept(
    *,
    channel: str,
    external_id: str,
    payload: dict[str, Any] | None,
    ordering_key: str,
    arrival: int,
) -> None:
    """Commit one delivered event in a single statement (INSERT … ON CONFLICT DO NOTHING, in
    autocommit): a redelivery inserts nothing. For the webhook's hot path."""
    event = InboundEvent(
        channel=channel,
        external_id=external_id,
        payload=payload,
        ordering_key=ordering_key,
        arrival=arrival,
    )
    with serial_write():
        InboundEvent.objects.bulk_create([event], ignore_conflicts=True)


#: channel -> dotted path of its handler(event) -> (conversation, replies). Imported on first
#: use, so that commands which never touch Telegram do not pay for importing aiogram.
HANDLERS: dict[str, str] = {
    "telegram": "lifeline.channels.telegram.handle_event",
    "web": "lifeline.channels.webchat.handle_event",
}


def _handler(channel: str) -> Callable[[InboundEvent], tuple[Any, list[Reply]]] | None:
    path = HANDLERS.get(channel)
    return import_string(path) if path else None


def _heads(ordering_key: str | None = None, channel: str | None = None) -> Any:
    """Pending events that are first in their key's queue."""
    earlier = InboundEvent.objects.filter(
        ordering_key=OuterRef("ordering_key"),
        status=InboundStatus.PENDING,
    ).filter(
        Q(arrival__lt=OuterRef("arrival"))
        | Q(arrival=OuterRef("arrival"), received_at__lt=OuterRef("received_at"))
    )
    now = timezone.now()
    qs = (
        InboundEvent.objects.filter(status=InboundStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(~Exists(earlier))
    )
    if ordering_key is not None:
        qs = qs.filter(ordering_key=ordering_key)
    if channel is not None:
        qs = qs.filter(channel=channel)
    # Order is kept per key (``earlier`` above, by ``arrival``); across keys the oldest stored
    # goes first (Telegram's update ids and the web chat's clock are not comparable), and
    # process_all takes the channels in turn, so one channel's backlog does not hold up another.
    return qs.order_by("received_at", "arrival")


def _next_seq(conversation: Any) -> int:
    """The next reply number of a conversation, taken under its row lock (the caller's
    transaction), so two writers never number two replies alike."""
    Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
    last = (
        OutboundMessage.objects.filter(conversation=conversation)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    return (last or 0) + 1


def enqueue(
    conversation: Any,
    channel: str,
    *,
    kind: str = OutboundKind.MESSAGE,
    text: str = "",
    buttons: Any = None,
    secret: bool = False,
    message_id: Any = None,
) -> OutboundMessage:
    """The one way a row enters the outbox."""
    return OutboundMessage.objects.create(
        conversation=conversation,
        channel=channel,
        kind=kind,
        text=text,
        buttons=buttons,
        seq=_next_seq(conversation),
        secret=secret,
        message_id=message_id,
    )


def enqueue_replies(conversation: Any, channel: str, replies: list[Reply]) -> None:
    for reply in replies:
        enqueue(
            conversation,
            channel,
            text=reply.text,
            buttons=list(reply.buttons) or None,
            secret=reply.secret,
            message_id=reply.message_id,
        )


def batch_size() -> int:
    """Events taken in one transaction. On PostgreSQL a batch shares one heads query and one
    commit (the fsync that dominates a step); on SQLite a batch would hold the one write lock
    that the web requests need, so it is one event."""
    if connection.vendor == "sqlite":
        return 1
    return max(1, int(getattr(settings, "LIFELINE_WORKER_BATCH", 25)))


def process_next(ordering_key: str | None = None, channel: str | None = None) -> bool:
    """Process one event (of ``channel``, if given); False when there is nothing to do."""
    return process_batch(ordering_key=ordering_key, channel=channel, size=1) > 0


def process_batch(
    *, ordering_key: str | None = None, channel: str | None = None, size: int | None = None
) -> int:
    """Process up to ``size`` events, each the head of its own key, in one transaction: each
    event in its own savepoint, so a failing one is rolled back and counted alone. A crash
    before the commit leaves every event of the batch pending (nothing of it happened)."""
    size = size or batch_size()
    with serial_write(), transaction.atomic():
        events = list(_heads(ordering_key, channel).select_for_update(skip_locked=True)[:size])
        for event in events:
            _process_one(event)
        return len(events)


def _process_one(event: InboundEvent) -> None:
    if blocks.blocked(event.channel, event.ordering_key):
        # Arrived before the block: dropped unprocessed, its content purged.
        event.status = InboundStatus.BLOCKED
        event.payload = None
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "payload", "processed_at"])
        return
    handler = _handler(event.channel)
    try:
        with transaction.atomic():
            if handler is None:
                raise LookupError(f"no handler for channel {event.channel}")
            conversation, replies = handler(event)
            if conversation is not None and replies:
                enqueue_replies(conversation, event.channel, replies)
    except Exception:
        event.attempts += 1
        log.exception("inbound %s event failed (attempt %s)", event.channel, event.attempts)
        if event.attempts >= MAX_ATTEMPTS:
            # Kept, encrypted, until a supervisor retries or discards it (console: failed).
            event.status = InboundStatus.FAILED
        else:
            event.next_attempt_at = timezone.now() + timedelta(seconds=2**event.attempts)
        event.save(update_fields=["attempts", "status", "payload", "next_attempt_at"])
        return
    event.status = InboundStatus.DONE
    event.payload = None  # raw payloads are purged once processed
    event.processed_at = timezone.now()
    event.save(update_fields=["status", "payload", "processed_at"])


def process_all(ordering_key: str | None = None, limit: int = 1000) -> int:
    """Process up to ``limit`` events, a batch per channel in turn."""
    done = 0
    if ordering_key is not None:
        while done < limit:
            worked = process_batch(ordering_key=ordering_key, size=1)
            if not worked:
                break
            done += worked
        return done
    busy = list(HANDLERS)
    while busy and done < limit:
        share = -(-(limit - done) // len(busy))  # the rest of the pass, split fairly
        for channel in list(busy):
            if done >= limit:
                break
            worked = process_batch(channel=channel, size=min(batch_size(), share, limit - done))
            if worked:
                done += worked
            else:
                busy.remove(channel)
    return done
