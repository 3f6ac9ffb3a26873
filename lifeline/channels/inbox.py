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
import threading
import time
import uuid
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
from lifeline.conversations import delivery
from lifeline.conversations.delivery import Reply
from lifeline.conversations.models import Conversation
from lifeline.core import keystore, limits
from lifeline.core.db import serial_write

from .models import InboundEvent, InboundStatus, OutboundKind, OutboundMessage, OutboundStatus

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
    return max(1, int(settings.LIFELINE_WORKER_BATCH))


def process_next(ordering_key: str | None = None, channel: str | None = None) -> bool:
    """Process one event (of ``channel``, if given); False when there is nothing to do."""
    return process_batch(ordering_key=ordering_key, channel=channel, size=1) > 0


def process_batch(
    *, ordering_key: str | None = None, channel: str | None = None, size: int | None = None
) -> int:
    """Process up to ``size`` events, each the head of its own key, in one transaction. The
    usual steps (an answer to the bot's question, /start) are taken together in bulk
    (:func:`_bulk_steps`); every other event runs on its own, in its own savepoint, so a failing
    one is rolled back and counted alone. A crash before the commit leaves every event of the
    batch pending (nothing of it happened)."""
    size = size or batch_size()
    with serial_write(), transaction.atomic():
        events = list(_heads(ordering_key, channel).select_for_update(skip_locked=True)[:size])
        rest = _bulk_steps(_admitted(events))
        for event in rest:
            _process_one(event)
        return len(events)


#: channel -> dotted path of its reader(event) -> TextInput | None: the events its bulk step
#: can take (a plain text from a person). Imported on first use, like the handlers.
BULK_READERS: dict[str, str] = {
    "telegram": "lifeline.channels.telegram.bulk_input",
}


#: The event this thread is processing (erase_contact leaves it: its own /forget).
_processing = threading.local()


def erase_contact(contact: Any, indexes: list[str], waiting_too: bool) -> dict[str, int]:
    """A person erased (/forget, a supervisor): every outbox row of his conversations (queued
    replies would still reach him; failed ones keep their text) is deleted, and with
    ``waiting_too`` his events still waiting in the inbox (their payloads hold what he wrote
    before the erasure). The event being processed now is never among them."""
    outbound = OutboundMessage.objects.filter(conversation__contact=contact).delete()[0]
    if not waiting_too:
        return {"outbox_messages": outbound}
    waiting = InboundEvent.objects.filter(ordering_key__in=indexes).exclude(
        status=InboundStatus.DONE
    )
    current = getattr(_processing, "pk", None)
    if current is not None:
        waiting = waiting.exclude(pk=current)  # the event being processed now
    waiting = waiting.select_for_update(skip_locked=True)
    events = InboundEvent.objects.filter(pk__in=list(waiting.values_list("pk", flat=True)))
    return {"outbox_messages": outbound, "inbox_events": events.delete()[0]}


#: A sender whose messages wait is told so at most once in this many seconds.
TOLD_EVERY = 300


def _admitted(events: list[InboundEvent]) -> list[InboundEvent]:
    """The events whose senders are within their limits (``LIFELINE_SENDER_LIMITS``). Past a
    limit, a sender's event waits, stored and first in his queue, until the full window
    ends; he is told so, at most once in TOLD_EVERY seconds. A blocked sender's events go on,
    to be dropped."""
    admitted = []
    counted = [e for e in events if not blocks.blocked(e.channel, e.ordering_key)]
    waits = dict(
        zip(
            [e.pk for e in counted],
            limits.senders_admitted([(e.channel, e.ordering_key) for e in counted]),
            strict=True,
        )
    )
    for event in events:
        wait = waits.get(event.pk, 0.0)
        if not wait:
            admitted.append(event)
            continue
        event.next_attempt_at = timezone.now() + timedelta(seconds=wait)
        event.save(update_fields=["next_attempt_at"])
        if limits.hit(f"in:told:{event.channel}:{event.ordering_key}", limit=1, window=TOLD_EVERY):
            _tell(event)
    return admitted


def _tell(event: InboundEvent) -> None:
    """A calm word to the sender of a waiting event, in his conversation's language, stored in
    his transcript like any reply; nothing if he has no open conversation yet."""
    from django.utils.translation import gettext, override

    from lifeline.contacts.models import Identity
    from lifeline.conversations import host

    identity = Identity.objects.filter(
        channel=event.channel, address_index=event.ordering_key
    ).first()
    conversation = (
        Conversation.objects.filter(identity=identity)
        .exclude(status="closed")
        .order_by("-created_at")
        .first()
        if identity is not None
        else None
    )
    if conversation is None:
        return
    with override(conversation.language):
        text = gettext(
            "You are writing faster than we can read. We have kept your messages and will "
            "answer them in order in a little while; there is no need to send them again."
        )
    with transaction.atomic():
        # Through the channel's writer: the web chat shows the transcript and has no outbox.
        delivery.deliver(conversation, host.store_replies(conversation, [Reply(text)]))


def _bulk_steps(events: list[InboundEvent]) -> list[InboundEvent]:
    """Take the usual steps of ``events`` in bulk; return the events left for one-by-one
    processing. If the bulk step fails as a whole, it is rolled back and every event is left."""
    from lifeline.conversations import bulk

    taken: list[tuple[InboundEvent, bulk.TextInput]] = []
    rest: list[InboundEvent] = []
    for event in events:
        reader_path = BULK_READERS.get(event.channel)
        given = None
        if reader_path is not None and not blocks.blocked(event.channel, event.ordering_key):
            try:
                given = import_string(reader_path)(event)
            except ValueError:
                given = None  # malformed: its own handler fails it, visibly
        if given is None:
            rest.append(event)
        else:
            taken.append((event, given))
    if len(taken) < 2:  # one event: the usual path costs the same
        return [event for event, _given in taken] + rest
    try:
        with transaction.atomic():
            results = bulk.conversation_inputs([given for _event, given in taken])
            done = [(event, r) for (event, _given), r in zip(taken, results, strict=True) if r]
            _enqueue_bulk([(r.conversation, event.channel, r.replies) for event, r in done])
            now = timezone.now()
            InboundEvent.objects.filter(pk__in=[event.pk for event, _r in done]).update(
                status=InboundStatus.DONE, payload=None, processed_at=now
            )
    except Exception:
        log.exception("the bulk step failed; its events go one by one")
        return [event for event, _given in taken] + rest
    left = [event for (event, _given), r in zip(taken, results, strict=True) if r is None]
    return left + rest


def _enqueue_bulk(items: list[tuple[Any, str, list[Reply]]]) -> None:
    """The outbox rows of many conversations' replies: numbered after each one's last (their
    rows are locked by the caller's transaction), written in one statement."""
    from django.db.models import Max

    from lifeline.core import bulk as rows

    wanted = [conversation.pk for conversation, _channel, replies in items if replies]
    if not wanted:
        return
    last = dict(
        OutboundMessage.objects.filter(conversation__in=wanted)
        .values("conversation")
        .annotate(last=Max("seq"))
        .values_list("conversation", "last")
    )
    now = timezone.now()
    new = []
    for conversation, channel, replies in items:
        key = keystore.key_of(conversation) if replies else None
        seq = last.get(conversation.pk) or 0
        for reply in replies:
            seq += 1
            pk = uuid.uuid4()
            new.append(
                {
                    "id": pk,
                    "kind": OutboundKind.MESSAGE,
                    "conversation": conversation.pk,
                    "channel": channel,
                    "text": rows.seal(OutboundMessage, "text", pk, reply.text, key),
                    "buttons": rows.seal(
                        OutboundMessage, "buttons", pk, list(reply.buttons) or None, key
                    ),
                    "status": OutboundStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": None,
                    "created_at": now,
                    "seq": seq,
                    "sent_at": None,
                    "external_id": "",
                    "error": "",
                    "secret": reply.secret,
                    "message": reply.message_id,
                }
            )
    rows.insert(OutboundMessage, new)


def _process_one(event: InboundEvent) -> None:
    _processing.pk = event.pk
    try:
        _process_event(event)
    finally:
        _processing.pk = None


def _process_event(event: InboundEvent) -> None:
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
    except limits.Deferred as deferred:
        # Its work has no budget left now (a flood of new contacts): nothing of it happened;
        # it waits, first in its sender's queue, and is not counted as a failure. (A new
        # person has no conversation yet to be told in: he is answered when the window turns.)
        event.next_attempt_at = timezone.now() + timedelta(seconds=deferred.seconds)
        event.save(update_fields=["next_attempt_at"])
        return
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
