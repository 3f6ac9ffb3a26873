"""The durable outbox: replies are stored with the change that caused them, then sent by the
worker within each channel's limits.

* Per conversation, strictly in order (``seq``); at most one message per second per chat
  (``Conversation.last_sent_at``); at most ``GLOBAL_PER_SECOND`` messages per second overall,
  counted in the database so that several workers share the budget.
* Errors: a ``RetryAfter`` (Telegram's 429) waits exactly as long as asked; other transient
  errors back off exponentially; permanent ones (the person blocked the bot) mark it failed.
* The row is locked while it is sent and marked sent in the same transaction, so a message
  recorded as sent is never sent again. (A crash between the channel's acceptance and the commit
  can still repeat one message: the network offers no exactly-once delivery.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Protocol

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from lifeline.conversations.models import Conversation, Message

from .models import OutboundMessage, OutboundStatus, SendBudget

log = logging.getLogger(__name__)

PER_CHAT_INTERVAL = timedelta(seconds=1)
GLOBAL_PER_SECOND = 30
MAX_ATTEMPTS = 12
MAX_BACKOFF = 300
SKIP_LOCKED_CHATS = 20  # how many due chats one pass tries before it gives up


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


def _due_heads() -> object:
    now = timezone.now()
    earlier = OutboundMessage.objects.filter(
        conversation=OuterRef("conversation"),
        status=OutboundStatus.PENDING,
        seq__lt=OuterRef("seq"),
    )
    chat_busy = Conversation.objects.filter(
        pk=OuterRef("conversation"), last_sent_at__gt=now - PER_CHAT_INTERVAL
    )
    return (
        OutboundMessage.objects.filter(status=OutboundStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(~Exists(earlier))
        .filter(~Exists(chat_busy))
        .order_by("created_at", "seq")
    )


#: The gap between two sends of one channel, whatever worker sends them: slightly more than
#: 1/GLOBAL_PER_SECOND, so no window of one second ever holds more than GLOBAL_PER_SECOND.
SEND_GAP = timedelta(seconds=1 / (GLOBAL_PER_SECOND - 0.5))


def _take_slot(channel: str) -> bool:
    """Reserve the channel's next send slot in the shared budget row (its own short transaction:
    the lock is held for a few statements, never during the network call). Waits for a slot
    that is a moment away; False while the channel is paused (or the slot stays taken)."""
    SendBudget.objects.get_or_create(channel=channel)
    for _try in range(3):
        with transaction.atomic():
            budget = SendBudget.objects.select_for_update().get(channel=channel)
            now = timezone.now()
            if budget.paused_until and budget.paused_until > now:
                return False
            if budget.next_free_at is None or budget.next_free_at <= now:
                budget.next_free_at = now + SEND_GAP
                budget.save(update_fields=["next_free_at"])
                return True
            wait = (budget.next_free_at - now).total_seconds()
        time.sleep(min(wait, SEND_GAP.total_seconds()))
    return False


def _pause(channel: str, seconds: float) -> None:
    """Telegram asked us to wait: the whole bot waits, not just this chat."""
    until = timezone.now() + timedelta(seconds=max(seconds, 1))
    SendBudget.objects.filter(channel=channel).update(paused_until=until)


def send_next(senders: Mapping[str, Sender]) -> bool:
    """Send one due message. False when nothing is due (or the channel's budget is spent)."""
    due = _due_heads().filter(channel__in=list(senders))  # type: ignore[attr-defined]
    channel = due.values_list("channel", flat=True).first()
    if channel is None or not _take_slot(channel):
        return False
    with transaction.atomic():
        candidates = (
            _due_heads()  # type: ignore[attr-defined]
            .filter(channel=channel)
            .select_for_update(skip_locked=True)[:SKIP_LOCKED_CHATS]
        )
        message = conversation = None
        for candidate in candidates:
            # A chat locked by another worker (or by its own inbox step) is skipped, not waited
            # for: the next due chat is tried instead.
            conversation = (
                Conversation.objects.select_for_update(skip_locked=True)
                .filter(pk=candidate.conversation_id)
                .first()
            )
            if conversation is not None:
                message = candidate
                break
        if message is None or conversation is None:
            return False
        now = timezone.now()
        if conversation.last_sent_at and now - conversation.last_sent_at < PER_CHAT_INTERVAL:
            return False
        try:
            external_id = senders[message.channel].send(message)
        except RetryAfter as exc:
            message.attempts += 1
            message.next_attempt_at = now + timedelta(seconds=max(exc.seconds, 1))
            message.error = "429 retry_after"
            _pause(message.channel, exc.seconds)
        except TransientError as exc:
            message.attempts += 1
            delay = min(MAX_BACKOFF, 2**message.attempts)
            message.next_attempt_at = now + timedelta(seconds=delay)
            message.error = str(exc)[:200]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = OutboundStatus.FAILED
        except PermanentError as exc:
            message.attempts += 1
            message.status = OutboundStatus.FAILED
            message.error = str(exc)[:200]
        except Exception as exc:  # noqa: BLE001 - an answer no adapter maps: retried, counted
            log.warning("unexpected %s while sending; will retry", type(exc).__name__)
            message.attempts += 1
            message.next_attempt_at = now + timedelta(seconds=min(MAX_BACKOFF, 2**message.attempts))
            message.error = f"unexpected: {type(exc).__name__}"[:200]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = OutboundStatus.FAILED
        else:
            message.status = OutboundStatus.SENT
            message.sent_at = now
            message.external_id = external_id[:64]
            message.error = ""
            conversation.last_sent_at = now
            conversation.save(update_fields=["last_sent_at"])
        if message.secret and message.status != OutboundStatus.PENDING:
            forget_secret_text(message)
        message.save(
            update_fields=[
                "attempts",
                "next_attempt_at",
                "error",
                "status",
                "sent_at",
                "external_id",
                "text",
            ]
        )
        return True


def forget_secret_text(message: OutboundMessage) -> None:
    """Delivered (or given up): keep the transcript's placeholder instead of the code words."""
    row = Message.objects.filter(pk=message.message_id).first() if message.message_id else None
    message.text = row.text if row is not None and row.text else "[shown once, not kept]"


def send_all(senders: Mapping[str, Sender], limit: int = 1000) -> int:
    sent = 0
    while sent < limit and send_next(senders):
        sent += 1
    return sent
