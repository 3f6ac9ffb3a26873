"""The durable outbox: replies are stored with the change that caused them, then sent by the
workers' senders within each channel's limits.

* Per conversation, strictly in order (``seq``): only a conversation's first pending message is
  ever taken, and it stays pending until it is recorded sent; at most one message per second per
  chat (the chat's last ``sent_at``).
* Per bot, at most ``GLOBAL_PER_SECOND`` messages in any second, across every worker: sends take
  slots from a shared, locked budget row (:class:`~.models.SendBudget`), a slot every
  ``SEND_GAP``. With ``LIFELINE_TELEGRAM_PAID_PER_SECOND`` set, what does not fit goes in a
  second lane of that many a second, sent as Telegram's paid broadcasts (ADR 0015).
* A pass (:func:`send_all`) claims the due messages of distinct chats with a lease (one short
  transaction, skipping any row or chat another transaction holds), sends them concurrently,
  each at its slot, then records every outcome. A claim that outlives its lease (a crashed
  sender) is taken again; a message recorded as sent is never sent again. (A crash between the
  channel's acceptance and the record can still repeat one message: the network offers no
  exactly-once delivery.)
* Errors: a ``RetryAfter`` (Telegram's 429) pauses the whole bot exactly as long as asked, and
  the pass's later slots are not used; other transient errors back off exponentially (attempts
  counted); permanent ones (the person blocked the bot) mark it failed, kept for a supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from lifeline.conversations.models import Message
from lifeline.core import bulk
from lifeline.core.db import serial_write

from .models import OutboundKind, OutboundMessage, OutboundStatus, SendBudget

log = logging.getLogger(__name__)

PER_CHAT_INTERVAL = timedelta(seconds=1)
GLOBAL_PER_SECOND = 30
MAX_ATTEMPTS = 12
MAX_BACKOFF = 300


#: Messages one pass claims at most (it also takes no more slots than a second holds).
CLAIM_MAX = 250
#: How far ahead a pass takes slots: the rest of the second is left to the other workers.
HORIZON = timedelta(seconds=1)


def _lease() -> timedelta:
    """How long a claim holds a message for its sender: longer than its slot's wait plus the
    longest a call may take, so that no two senders ever hold one message; short enough that
    a crashed sender's messages are soon taken by another."""
    return HORIZON + timedelta(seconds=float(settings.LIFELINE_TELEGRAM_TIMEOUT) + 10)


class RetryAfter(Exception):  # noqa: N818 - named after Telegram's own term
    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class TransientError(Exception):
    """The channel failed or timed out: try again later."""


class PermanentError(Exception):
    """The message can never be delivered (blocked, chat gone)."""


class Sender(Protocol):
    def send(self, message: OutboundMessage) -> str:
        """Deliver; return the channel's id for the message. Raise the errors above."""


class ConcurrentSender(Sender, Protocol):
    """A sender that keeps many messages on their way at once (Telegram's)."""

    def prepare(self, message: OutboundMessage) -> Callable[[], Awaitable[str]]:
        """Read what sending needs now; the coroutine function sends it, touching no database."""

    def start(
        self,
        send: Callable[[], Awaitable[str]],
        delay: float,
        on_sent: Callable[[str], Awaitable[bool]] | None = None,
    ) -> Any:
        """Begin a prepared send ``delay`` seconds from now; a handle for :meth:`collect`. Once
        the channel accepted it, ``on_sent(id)`` records that at once (True: recorded, and the
        outcome is then :class:`Recorded`)."""

    def collect(self, handles: set[Any], timeout: float | None) -> list[tuple[Any, Any]]:
        """Wait until one of ``handles`` is done (or ``timeout``); the finished ones with their
        outcome: the channel's id, or one of the errors above."""

    def paused(self) -> bool:
        """Whether the channel asked to wait (a 429) and the wait is not over."""


#: The gap between two sends of one bot, whatever worker sends them: 27 a second, enough below
#: GLOBAL_PER_SECOND that no one-second window at Telegram's end holds more than 30 even when
#: sends leave up to about 100 ms late on a busy machine (at 1/28.5 s, `make bench` saw 31
#: arrive within one second under load; at 1/27 s, at most 29).
SEND_GAP = timedelta(seconds=1 / (GLOBAL_PER_SECOND - 3))


def _paid_lane(channel: str) -> tuple[str, timedelta] | None:
    """The paid lane's budget row and gap, if this channel has one configured."""
    per_second = int(getattr(settings, "LIFELINE_TELEGRAM_PAID_PER_SECOND", 0) or 0)
    if channel != "telegram" or per_second <= 0:
        return None
    return f"{channel}+paid", timedelta(seconds=1 / per_second)


def _budget(name: str) -> SendBudget:
    SendBudget.objects.get_or_create(channel=name)
    return SendBudget.objects.select_for_update().get(channel=name)


def take_slots(channel: str, wanted: int) -> list[tuple[float, bool]]:
    """Reserve up to ``wanted`` send slots within the next second in the channel's shared
    budget (its own short transaction: the row lock is never held during a network call).
    Each slot is (seconds from now, paid); none while the channel is paused."""
    if wanted <= 0:
        return []
    slots: list[tuple[float, bool]] = []
    with serial_write(), transaction.atomic():
        budget = _budget(channel)
        now = timezone.now()
        if budget.paused_until and budget.paused_until > now:
            return []
        horizon = now + HORIZON
        free = max(budget.next_free_at or now, now)
        while len(slots) < wanted and free < horizon:
            slots.append(((free - now).total_seconds(), False))
            free += SEND_GAP
        if budget.next_free_at != free:
            budget.next_free_at = free
            budget.save(update_fields=["next_free_at"])
        lane = _paid_lane(channel)
        if lane is not None and len(slots) < wanted:
            name, gap = lane
            paid = _budget(name)
            if paid.paused_until and paid.paused_until > now:
                horizon = now  # the lane is closed (a refused paid broadcast): no paid slot
            paid_free = max(paid.next_free_at or now, now)
            while len(slots) < wanted and paid_free < horizon:
                slots.append(((paid_free - now).total_seconds(), True))
                paid_free += gap
            paid.next_free_at = paid_free
            paid.save(update_fields=["next_free_at"])
    # The slots were counted from ``now``, before the commit: count them from this moment, so
    # that the time the commit took does not push this worker's sends into the next ones'.
    late = (timezone.now() - now).total_seconds()
    return [(delay - late, paid) for delay, paid in slots]


def _take_slot(channel: str) -> bool:
    """One slot, waited for (channel posts use the bot's budget one send at a time)."""
    slots = take_slots(channel, 1)
    if not slots:
        return False
    delay, _paid = slots[0]
    if delay > 0:
        time.sleep(delay)
    return True


#: How long the paid lane stays closed after Telegram refused a paid broadcast.
PAID_LANE_PAUSE = timedelta(minutes=10)


def _close_paid_lane(channel: str, now: datetime) -> None:
    lane = _paid_lane(channel)
    if lane is None:
        return
    log.warning("Telegram refused a paid broadcast: the paid lane closes for %s", PAID_LANE_PAUSE)
    SendBudget.objects.get_or_create(channel=lane[0])
    SendBudget.objects.filter(channel=lane[0]).update(paused_until=now + PAID_LANE_PAUSE)


def _pause(channel: str, seconds: float) -> None:
    """Telegram asked us to wait: the whole bot waits, not just this chat."""
    until = timezone.now() + timedelta(seconds=max(seconds, 1))
    SendBudget.objects.get_or_create(channel=channel)
    SendBudget.objects.filter(channel=channel).update(paused_until=until)


#: What counts toward a chat's one message a second: new messages. Answering a button press
#: and marking the pressed button are not messages to the chat, so the next question does not
#: wait two seconds behind them.
CHAT_PACED = (OutboundKind.MESSAGE,)


def _due_heads(now: datetime) -> Any:
    earlier = OutboundMessage.objects.filter(
        conversation=OuterRef("conversation"),
        status=OutboundStatus.PENDING,
        seq__lt=OuterRef("seq"),
    )
    # A message still waiting in an earlier conversation of the same chat goes first.
    earlier_elsewhere = OutboundMessage.objects.filter(
        conversation__identity=OuterRef("conversation__identity"),
        status=OutboundStatus.PENDING,
        created_at__lt=OuterRef("created_at"),
    ).exclude(conversation=OuterRef("conversation"))
    # The chat had a message less than a second ago: read from the outbox itself, so that
    # recording a send never waits for the conversation's row (a worker may hold it while it
    # processes his next message; a sender killed meanwhile would send the message again).
    # (The chat is the identity: every conversation of it, this one included. A conversation
    # without one cannot be sent to at all.)
    chat_busy = OutboundMessage.objects.filter(
        conversation__identity=OuterRef("conversation__identity"),
        kind__in=CHAT_PACED,
        status=OutboundStatus.SENT,
        sent_at__gt=now - PER_CHAT_INTERVAL,
    )
    paced = Q(kind__in=CHAT_PACED) & Exists(chat_busy)
    return (
        OutboundMessage.objects.filter(status=OutboundStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(~Exists(earlier))
        .filter(~Exists(earlier_elsewhere))
        .filter(~paced)
        .order_by("created_at", "seq")
    )


def _claim(channel: str, limit: int) -> list[OutboundMessage]:
    """Claim up to ``limit`` due messages of distinct chats for this sender. A row, or a chat,
    held by another transaction (a worker processing that person's message, another sender)
    is skipped, not waited for."""
    now = timezone.now()
    # First the candidates, in the order they were written (a partial index of the pending
    # rows: the scan stops once it has found enough heads), read without a lock or a join;
    # then only those are locked, with their chats. Kept short: a sender's event loop waits
    # while it runs, and so do the answers of the messages on their way.
    candidates = list(
        _due_heads(now).filter(channel=channel).values_list("pk", flat=True)[: limit * 2]
    )
    if not candidates:
        return []
    with serial_write(), transaction.atomic():
        rows = list(
            OutboundMessage.objects.filter(pk__in=candidates, status=OutboundStatus.PENDING)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .select_related("conversation", "conversation__identity")
            .select_for_update(skip_locked=True, of=("self", "conversation"))
            .order_by("created_at", "seq")[:limit]
        )
        if not rows:
            return []
        until = now + _lease()
        OutboundMessage.objects.filter(pk__in=[r.pk for r in rows]).update(claimed_until=until)
    for row in rows:
        row.claimed_until = until
    return rows


def _fetch_lease() -> timedelta:
    """A download's lease: its two calls (getFile, then the file) at their timeout each, and the
    re-encoding, with room to spare."""
    return timedelta(seconds=2 * float(settings.LIFELINE_TELEGRAM_TIMEOUT) + 60)


def _extend(messages: Sequence[OutboundMessage], lease: timedelta) -> list[OutboundMessage]:
    """Lengthen the claims of ``messages`` still held (by their claim time); the held ones."""
    until = timezone.now() + lease
    held = []
    for message in messages:
        if OutboundMessage.objects.filter(
            pk=message.pk, claimed_until=message.claimed_until
        ).update(claimed_until=until):
            message.claimed_until = until
            held.append(message)
    return held


def _release(messages: Sequence[OutboundMessage]) -> None:
    """Give back claims that will not be sent in this pass (no slot, or a pause)."""
    if messages:
        OutboundMessage.objects.filter(
            pk__in=[m.pk for m in messages], claimed_until=messages[0].claimed_until
        ).update(claimed_until=None)


def send_next(senders: Mapping[str, Sender]) -> bool:
    """Send one due message. False when nothing is due (or the channel's budget is spent)."""
    return send_all(senders, limit=1) > 0


def send_all(senders: Mapping[str, Sender], limit: int = CLAIM_MAX) -> int:
    """One sending pass per channel: claim, send at the slots the budget gives, record.
    Returns how many messages were attempted."""
    done = 0
    for channel, sender in senders.items():
        if done >= limit:
            break
        done += _send_channel(channel, sender, limit - done)
    return done


#: Seconds between two claims while a pass has messages on their way.
CLAIM_EVERY = 0.1
#: A pass stops claiming after this long (it then finishes what it has on its way), so the
#: worker's other duties (the channel posts) get their turn.
PASS_SECONDS = 5.0


def _send_channel(channel: str, sender: Sender, limit: int) -> int:
    """Claim, send and record until nothing is due, ``limit`` messages were handled or the pass
    has run ``PASS_SECONDS``; a concurrent sender keeps claiming while earlier sends are on
    their way, so a new reply never waits for the whole pass. If claiming fails (the database
    went away), the messages already on their way are still seen through and recorded (a send
    left unrecorded would go out again) before the failure is raised."""
    start = getattr(sender, "start", None)
    collect = getattr(sender, "collect", None)
    if start is None or collect is None:
        return _send_one_by_one(channel, sender, limit)
    in_flight: dict[Any, OutboundMessage] = {}
    handled = 0
    began = time.monotonic()
    next_claim = 0.0
    failure: Exception | None = None
    while True:
        now = time.monotonic()
        room = limit - handled - len(in_flight)
        claiming = (
            failure is None and room > 0 and now - began < PASS_SECONDS and not _paused_here(sender)
        )
        if claiming and now >= next_claim:
            next_claim = now + CLAIM_EVERY
            try:
                claimed, done = _claim_and_start(channel, sender, room, in_flight)
            except Exception as exc:  # noqa: BLE001 - raised once what is on its way is recorded
                failure, claimed, done = exc, 0, 0
            handled += done
            if not claimed and not in_flight:
                break
        elif not in_flight:
            if not claiming:
                break
            time.sleep(max(0.0, next_claim - time.monotonic()))
            continue
        wait = max(0.0, next_claim - time.monotonic()) if claiming else 1.0
        finished = collect(set(in_flight), wait)
        if finished:
            _record([(in_flight.pop(task), outcome) for task, outcome in finished])
            handled += len(finished)
    if failure is not None:
        raise failure
    return handled


def _claim_and_start(
    channel: str, sender: Sender, room: int, in_flight: dict[Any, OutboundMessage]
) -> tuple[int, int]:
    """Claim due messages and start sending them at their slots (into ``in_flight``); returns
    (messages claimed, messages already done: fetched, or refused before sending)."""
    claimed = _claim(channel, min(room, CLAIM_MAX))
    fetches = [m for m in claimed if m.kind == OutboundKind.FETCH]
    sends = [m for m in claimed if m.kind != OutboundKind.FETCH]
    if fetches:
        # A download (and its re-encoding) may outlast a send's lease: the fetches get a
        # lease of their own, and the sends claimed with them go back, to be claimed afresh
        # after them (else, their lease run out meanwhile, another sender could send them too).
        _release(sends)
        return len(claimed), _fetch_all(sender, fetches)
    slots = take_slots(channel, len(sends))
    taken = time.monotonic()
    _release(sends[len(slots) :])
    refused: list[tuple[OutboundMessage, str | Exception]] = []
    for message, (delay, paid) in zip(sends, slots, strict=False):
        message.paid = paid  # type: ignore[attr-defined]
        try:
            send = sender.prepare(message)  # type: ignore[attr-defined]
            on_sent = _on_sent(sender, message)
        except Exception as exc:  # noqa: BLE001 - e.g. a conversation with no identity
            refused.append((message, exc))
            continue
        # Each slot is a moment, not a wait: preparing the earlier sends does not delay it.
        wait = delay - (time.monotonic() - taken)
        in_flight[sender.start(send, wait, on_sent)] = message  # type: ignore[attr-defined]
    if refused:
        _record(refused)
    return len(claimed), len(refused)


def _paused_here(sender: Sender) -> bool:
    paused = getattr(sender, "paused", None)
    return bool(paused()) if callable(paused) else False


def _fetch_all(sender: Sender, fetches: Sequence[OutboundMessage]) -> int:
    """Downloads (and re-encodings): one at a time, not in the budget, each under a lease long
    enough for it, taken as it starts (one whose claim ran out while the others were fetched
    is left to whoever holds it now)."""
    done = 0
    for message in fetches:
        if not _extend([message], _fetch_lease()):
            continue
        _record([(message, _call(functools.partial(sender.send, message)))])
        done += 1
    return done


def _send_one_by_one(channel: str, sender: Sender, limit: int) -> int:
    """A plain sender: claim, then one message after another at its slot."""
    claimed = _claim(channel, min(limit, CLAIM_MAX))
    fetches = [m for m in claimed if m.kind == OutboundKind.FETCH]
    sends = [m for m in claimed if m.kind != OutboundKind.FETCH]
    if fetches:  # as _claim_and_start: the sends are claimed afresh after the downloads
        _release(sends)
        return _fetch_all(sender, fetches)
    handled = 0
    slots = take_slots(channel, len(sends))
    _release(sends[len(slots) :])
    started = time.monotonic()
    for message, (delay, _paid) in zip(sends, slots, strict=False):
        wait = delay - (time.monotonic() - started)
        if wait > 0:
            time.sleep(wait)
        _record([(message, _call(functools.partial(sender.send, message)))])
        handled += 1
    return handled


def _call(send: Callable[[], str]) -> str | Exception:
    try:
        return send()
    except Exception as exc:  # noqa: BLE001 - every outcome is recorded, none raised
        return exc


class Recorded(str):
    """A channel's id for a message whose "sent" is already recorded (by :class:`Recorder`)."""

    __slots__ = ()


#: Seconds a record's connection or statement may take; then the sender thread records it on
#: its own connection (whose libpq timeouts are set in the settings).
RECORD_TIMEOUT = 10.0


class Recorder:
    """Records "sent" from the senders' event loop the moment the channel accepts a message,
    on its own connection (PostgreSQL): the sender thread may meanwhile be busy with a claim,
    and a message accepted but not recorded would be sent again if the worker died then."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.conn: Any = None
        table = OutboundMessage._meta.db_table
        self.sql = (
            f'UPDATE "{table}" SET "status" = %s, "sent_at" = now(), "external_id" = %s, '  # noqa: S608 - the model's own table
            '"error" = \'\', "claimed_until" = NULL, '
            '"text" = COALESCE(%s, "text") WHERE "id" = %s AND "claimed_until" = %s'
        )

    async def sent(self, pk: Any, claim: datetime, external_id: str, text: str | None) -> bool:
        """Mark the message sent (``text``: a sealed placeholder replacing a secret text).
        False if that could not be recorded here (the caller records it)."""
        import psycopg

        try:
            if self.conn is None or self.conn.closed or self.conn.broken:
                self.conn = await asyncio.wait_for(
                    psycopg.AsyncConnection.connect(self.conninfo, autocommit=True),
                    RECORD_TIMEOUT,
                )
            cursor = await asyncio.wait_for(
                self.conn.execute(
                    self.sql, (OutboundStatus.SENT, external_id[:64], text, pk, claim)
                ),
                RECORD_TIMEOUT,
            )
            return bool(cursor.rowcount)
        except Exception as exc:  # noqa: BLE001 - the sender thread records it instead
            log.warning("could not record a send at once (%s)", type(exc).__name__)
            if self.conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.conn.close(), RECORD_TIMEOUT)
            self.conn = None
            return False

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.conn.close(), RECORD_TIMEOUT)
            self.conn = None


def recorder() -> Recorder | None:
    """A recorder for this database, if it is PostgreSQL (SQLite: the sender thread records)."""
    from lifeline.core.db import postgres_conninfo

    if connection.vendor != "postgresql":
        return None
    return Recorder(postgres_conninfo())


def _on_sent(sender: Sender, message: OutboundMessage) -> Callable[[str], Awaitable[bool]] | None:
    """How ``message``'s acceptance is recorded in the sender's event loop, if it can be."""
    rec = getattr(sender, "recorder", None)
    if not isinstance(rec, Recorder) or message.claimed_until is None:
        return None
    text = None
    if message.secret:  # once shown, only the transcript's placeholder is kept
        sealed = bulk.seal(
            OutboundMessage, "text", message.pk, _placeholder(message), message.sealing_key()
        )
        text = sealed.token if sealed is not None else None
    pk, claim = message.pk, message.claimed_until

    async def record(external_id: str) -> bool:
        return await rec.sent(pk, claim, external_id, text)

    return record


class NotAttempted(Exception):  # noqa: N818 - a state, not an error
    """The message was not sent at its slot: the bot was paused meanwhile, or the sender got
    to it too late (:data:`LATE_SEND`). Its claim is released; it takes a new slot later."""


#: A send that would leave more than this after its slot does not leave: its slot is given up.
#: Otherwise a sender that fell behind (a busy CPU) would send its late messages together, on
#: top of the other workers' punctual ones, and one second at Telegram's end would hold more
#: than 30. Sends leave within [slot, slot + LATE_SEND], so any second holds the slots of at
#: most 1.08 s: 30 at SEND_GAP's 27 a second.
LATE_SEND = 0.08


#: How long recording outcomes is retried while the database is unreachable (a restart): a
#: message sent but not recorded would be sent again once its claim runs out.
RECORD_PATIENCE = 60.0


def _record(outcomes: Sequence[tuple[OutboundMessage, str | Exception]]) -> None:
    """Every outcome given, in one transaction. A claim that is no longer ours (its lease ran
    out and another sender took the message) is left alone. A lost database connection is
    retried, reconnecting, for up to ``RECORD_PATIENCE`` seconds."""
    deadline = time.monotonic() + RECORD_PATIENCE
    pause = 0.05
    while True:
        try:
            now = timezone.now()
            with serial_write(), transaction.atomic():
                for message, outcome in sorted(outcomes, key=lambda o: str(o[0].conversation_id)):
                    _record_one(message, outcome, now)
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            with contextlib.suppress(Exception):
                connection.close()  # a dead connection: the next try opens a new one
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def _record_one(message: OutboundMessage, outcome: str | Exception, now: datetime) -> None:
    if isinstance(outcome, Recorded):
        return  # recorded the moment the channel accepted it
    claim = message.claimed_until
    changes: dict[str, Any] = {"claimed_until": None}
    if isinstance(outcome, NotAttempted):
        OutboundMessage.objects.filter(pk=message.pk, claimed_until=claim).update(**changes)
        return
    if isinstance(outcome, str):
        changes.update(status=OutboundStatus.SENT, sent_at=now, external_id=outcome[:64], error="")
    else:
        attempts = message.attempts + 1
        changes["attempts"] = attempts
        if isinstance(outcome, RetryAfter):
            changes["next_attempt_at"] = now + timedelta(seconds=max(outcome.seconds, 1))
            changes["error"] = "429 retry_after"
            _pause(message.channel, outcome.seconds)
        elif isinstance(outcome, PermanentError) and getattr(message, "paid", False):
            # Refused in the paid lane (e.g. the bot's balance of Stars ran out): the lane
            # closes for a while and the message waits for a free slot, not failed for it.
            changes["attempts"] = message.attempts
            changes["next_attempt_at"] = now
            changes["error"] = f"paid broadcast refused: {outcome}"[:200]
            _close_paid_lane(message.channel, now)
        elif isinstance(outcome, PermanentError):
            changes["status"] = OutboundStatus.FAILED
            changes["error"] = str(outcome)[:200]
        else:
            if not isinstance(outcome, TransientError):
                log.warning("unexpected %s while sending; will retry", type(outcome).__name__)
                changes["error"] = f"unexpected: {type(outcome).__name__}"[:200]
            else:
                changes["error"] = str(outcome)[:200]
            changes["next_attempt_at"] = now + timedelta(seconds=min(MAX_BACKOFF, 2**attempts))
            if attempts >= MAX_ATTEMPTS:
                changes["status"] = OutboundStatus.FAILED
    status = changes.get("status", OutboundStatus.PENDING)
    if message.secret and status != OutboundStatus.PENDING:
        message.status = status
        forget_secret_text(message)
        changes["text"] = bulk.seal(
            OutboundMessage, "text", message.pk, message.text, message.sealing_key()
        )
    OutboundMessage.objects.filter(pk=message.pk, claimed_until=claim).update(**changes)


def _placeholder(message: OutboundMessage) -> str:
    row = Message.objects.filter(pk=message.message_id).first() if message.message_id else None
    return row.text if row is not None and row.text else "[shown once, not kept]"


def forget_secret_text(message: OutboundMessage) -> None:
    """Delivered (or given up): keep the transcript's placeholder instead of the code words."""
    message.text = _placeholder(message)
