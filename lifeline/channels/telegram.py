"""Telegram: reading stored updates into conversation input, and sending through the Bot API.

* Inbound: :func:`store_update` puts an update in the inbox (long polling; the webhook calls
  :mod:`.telegram_accept` directly); :func:`handle_event` turns a stored update into
  conversation input (:mod:`.telegram_update` reads it).
* Outbound: :class:`TelegramSender` sends messages, edits and button answers, fetches the
  photos and voice messages people sent, and delivers channel posts, over :mod:`.botapi`.

Chats are keyed by a blind index of the chat id; the id itself is kept only encrypted (in the
contact's identity) and decrypted at the moment a message is sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from django.conf import settings

from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations import media
from lifeline.conversations.host import Reply, conversation_input, store_replies
from lifeline.conversations.models import Conversation, ConversationStatus, MediaKind
from lifeline.core.channels import Channel

from . import botapi, inbox, outbox, telegram_accept
from .models import InboundEvent, OutboundKind, OutboundMessage
from .outbox import (
    LATE_SEND,
    NotAttempted,
    PermanentError,
    Recorded,
    RetryAfter,
    TransientError,
)
from .telegram_update import MessageIn, language, parse

log = logging.getLogger(__name__)

#: Update kinds Lifeline reads (asked for when polling and when registering the webhook).
HANDLED_UPDATES = telegram_accept.HANDLED_UPDATES

T = TypeVar("T")


def store_update(data: dict[str, Any]) -> bool:
    """Commit one Telegram update to the inbox (long polling): the webhook's own accept, one
    statement. False for an update Lifeline ignores or from a blocked sender.
    Raises :class:`telegram_accept.NotAnUpdate` for a body that is not an update."""
    return telegram_accept.accept(data)


def _conversation(user_id: int, lang: str) -> Conversation:
    identity = identity_get_or_create(channel=Channel.TELEGRAM, address=str(user_id), language=lang)
    conversation = (
        Conversation.objects.select_for_update()  # held until the event's transaction ends
        .filter(identity=identity)
        .exclude(status=ConversationStatus.CLOSED)
        .order_by("-created_at")
        .first()
    )
    if conversation is None:
        conversation = Conversation.objects.create(
            contact=identity.contact,
            identity=identity,
            channel=Channel.TELEGRAM,
            language=identity.contact.language if identity.contact.language else lang,
        )
    return conversation


_BUTTON = re.compile(r"b:([0-9]{1,3})")


def _button_label(conversation: Conversation, data: str) -> str | None:
    match = _BUTTON.fullmatch(data)  # ASCII digits: "b:²" passes str.isdigit(), not int()
    if match is None:
        return None
    index = int(match.group(1))
    last = (
        OutboundMessage.objects.filter(conversation=conversation, kind=OutboundKind.MESSAGE)
        .filter(buttons__isnull=False)
        .order_by("-seq")
        .first()
    )
    if last is None or not isinstance(last.buttons, list) or index >= len(last.buttons):
        return None
    return str(last.buttons[index])


def _queue(
    conversation: Conversation, kind: str, text: str = "", extra: dict[str, Any] | None = None
) -> None:
    inbox.enqueue(conversation, Channel.TELEGRAM, kind=kind, text=text, buttons=extra)


def handle_event(event: InboundEvent) -> tuple[Conversation | None, list[Reply]]:
    update = parse(event.payload)
    if update.button is not None:
        press = update.button
        conversation = _conversation(press.sender.id, language(press.sender.language_code))
        _queue(conversation, OutboundKind.CALLBACK, extra={"callback_query_id": press.id})
        label = _button_label(conversation, press.data)
        if label is None:
            return conversation, []
        if press.message_id is not None and press.message_text:
            _queue(
                conversation,
                OutboundKind.EDIT,
                text=f"{press.message_text}\n\n✓ {label}",
                extra={"message_id": press.message_id},
            )
        return conversation, conversation_input(conversation, label, locked=True)
    message = update.message
    if message is None or message.sender is None:
        return None, []
    if message.chat_type != "private":
        return None, []  # the bot talks one to one only
    conversation = _conversation(message.sender.id, language(message.sender.language_code))
    if message.text:
        return conversation, conversation_input(conversation, message.text, locked=True)
    if message.contact_phone:
        return conversation, conversation_input(conversation, message.contact_phone, locked=True)
    if message.location is not None:
        where = f"{message.location[0]:.4f}, {message.location[1]:.4f}"
        return conversation, conversation_input(conversation, where, locked=True)
    if message.photo or message.voice:
        if message.edited:
            return conversation, []  # an edited caption: the file is already kept
        return conversation, _media(conversation, message)
    if message.other_media:
        return conversation, media.refusal(conversation, "other")
    return conversation, []


def _media(conversation: Conversation, message: MessageIn) -> list[Reply]:
    """A photo or a voice message: into the transcript now, fetched later by the sender (a
    download must not hold the person's message step). Too large: a polite no."""
    limit = settings.LIFELINE_MEDIA_MAX_BYTES
    if message.photo:
        # Telegram offers each photo in several sizes: the largest one within the limit.
        fitting = [p for p in message.photo if p.file_size <= limit]
        if not fitting:
            return media.refusal(conversation, "large")
        file_id, kind = max(fitting, key=lambda p: p.width * p.height).file_id, MediaKind.PHOTO
    else:
        voice = message.voice
        assert voice is not None  # noqa: S101 - the caller checked photo or voice
        if voice.file_size > limit or voice.duration > settings.LIFELINE_VOICE_MAX_SECONDS:
            return media.refusal(conversation, "large")
        file_id, kind = voice.file_id, MediaKind.VOICE
    _stored, attachment, replies = media.receive(conversation, kind, message.caption)
    # His "kept" answer goes out first; the fetch row comes after it in the chat's outbox.
    inbox.enqueue_replies(conversation, Channel.TELEGRAM, store_replies(conversation, replies))
    _queue(
        conversation,
        OutboundKind.FETCH,
        extra={"file_id": file_id, "attachment": str(attachment.pk)},
    )
    return []


def new_api() -> botapi.BotApi:
    return botapi.BotApi(
        settings.TELEGRAM_BOT_TOKEN,
        base=settings.LIFELINE_TELEGRAM_API_BASE,
        timeout=settings.LIFELINE_TELEGRAM_TIMEOUT,
    )


#: Tries for a download before the file is given up (a slow network, not a missing file).
FETCH_ATTEMPTS = 3


def _outcome(exc: botapi.BotApiError) -> Exception:
    """The outbox's view of a Bot API error (see :mod:`.botapi` for why each is what it is)."""
    if isinstance(exc, botapi.TooManyRequests):
        return RetryAfter(exc.retry_after)
    if isinstance(exc, botapi.Forbidden):
        return PermanentError("forbidden (the person blocked the bot)")
    if isinstance(exc, botapi.BadRequest):
        return PermanentError(f"bad request: {exc.description}"[:200])
    return TransientError(f"{type(exc).__name__} {exc.code}".strip())


class TelegramSender:
    """Sends outbox rows through one Bot API connection, on an event loop that runs in a
    thread of its own for the sender's lifetime: the answers of the messages on their way are
    read (and recorded, :class:`outbox.Recorder`) the moment they come, whatever the calling
    thread is doing. Everything else from the database is read by the caller."""

    def __init__(self) -> None:
        self.api = new_api()
        self.recorder = outbox.recorder()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="lifeline-telegram", daemon=True
        )
        self._thread.start()
        self._paused_until = 0.0  # monotonic: after a 429, until Telegram's wait is over

    def close(self) -> None:
        async def closing() -> None:
            await self.api.close()
            if self.recorder is not None:
                await self.recorder.close()

        with contextlib.suppress(Exception):
            self.run(closing(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()

    def run(self, call: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``call`` on the sender's loop and wait for its result (from another thread)."""
        return asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout)

    # --- Outbox rows ---------------------------------------------------------------------

    def prepare(self, message: OutboundMessage) -> Callable[[], Coroutine[Any, Any, str]]:
        """What sending ``message`` takes, read from the database now (the chat id decrypted,
        the text, the buttons); the returned coroutine function touches no database. Raises
        PermanentError for a row that can never be sent."""
        if message.kind == OutboundKind.FETCH:
            raise ValueError("a fetch is not prepared: see send()")
        identity = message.conversation.identity
        if identity is None:
            raise PermanentError("the conversation has no Telegram identity")
        chat_id = int(identity.address)
        kind, text, buttons = message.kind, message.text or "", message.buttons
        paid = bool(getattr(message, "paid", False))

        async def send() -> str:
            try:
                return await self._send(kind, chat_id, text, buttons, paid=paid)
            except botapi.BadRequest:
                if kind != OutboundKind.MESSAGE:
                    return ""  # an old button or an unchanged edit: nothing to repeat
                raise

        return send

    def send(self, message: OutboundMessage) -> str:
        if message.kind == OutboundKind.FETCH:
            return self._fetch(message)
        send = self.prepare(message)
        try:
            return self.run(send())
        except botapi.BotApiError as exc:
            raise _outcome(exc) from None

    def paused(self) -> bool:
        """Whether Telegram asked this bot to wait (a 429) and the wait is not over."""
        return time.monotonic() < self._paused_until

    def start(
        self,
        send: Callable[[], Awaitable[str]],
        delay: float,
        on_sent: Callable[[str], Awaitable[bool]] | None = None,
    ) -> concurrent.futures.Future[str | Exception]:
        """Begin sending a prepared message once its slot comes (``delay`` seconds from now);
        once Telegram accepted it, ``on_sent`` records that at once."""

        due = time.monotonic() + delay  # from now, not from when the event loop gets to it

        async def one() -> str | Exception:
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.paused():
                return NotAttempted()  # a 429 came meanwhile: the bot waits
            if time.monotonic() - due > LATE_SEND:
                return NotAttempted()  # its slot is gone: it takes a new one
            try:
                external_id = await send()
            except botapi.BotApiError as exc:
                outcome = _outcome(exc)
                if isinstance(outcome, RetryAfter):
                    self._paused_until = time.monotonic() + max(outcome.seconds, 1.0)
                return outcome
            if on_sent is not None and await on_sent(external_id):
                return Recorded(external_id)
            return external_id

        return asyncio.run_coroutine_threadsafe(one(), self.loop)

    def collect(
        self, handles: set[concurrent.futures.Future[str | Exception]], timeout: float | None
    ) -> list[tuple[concurrent.futures.Future[str | Exception], str | Exception]]:
        """Wait until at least one of the sends is done or ``timeout`` seconds pass; the
        finished ones with their outcome (an id, or the outbox's error)."""
        if not handles:
            return []
        done, _pending = concurrent.futures.wait(
            handles, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED
        )
        return [(future, future.result()) for future in done]

    def _fetch(self, message: OutboundMessage) -> str:
        """Download a photo or voice message the person sent, then check, re-encode and store
        it (conversations.media). A file Telegram will not give, or that keeps failing, is
        marked refused, so it never holds the chat's outbox for long."""
        extra = message.buttons if isinstance(message.buttons, dict) else {}
        attachment_id = str(extra.get("attachment", ""))
        try:
            data = self.run(self._download(str(extra.get("file_id", ""))))
        except botapi.TooManyRequests as exc:
            raise RetryAfter(exc.retry_after) from None
        except (botapi.BadRequest, botapi.Forbidden, botapi.NotFound, media.MediaRefused):
            media.refuse(attachment_id)  # gone (its link lasts an hour), or not ours to keep
            return ""
        except botapi.FileTooLarge:
            media.refuse(attachment_id)
            return ""
        except botapi.BotApiError as exc:
            if message.attempts + 1 >= FETCH_ATTEMPTS:
                media.refuse(attachment_id)  # keeps failing
                return ""
            raise TransientError(type(exc).__name__) from None
        media.store(attachment_id, data)
        return ""

    async def _download(self, file_id: str) -> bytes:
        limit = settings.LIFELINE_MEDIA_MAX_BYTES
        found = await self.api.call("getFile", {"file_id": file_id})
        if not isinstance(found, dict):
            raise media.MediaRefused("no file")
        path, size = found.get("file_path"), found.get("file_size") or 0
        if not isinstance(path, str) or not path or not isinstance(size, int) or size > limit:
            raise media.MediaRefused("too large or gone")
        return await self.api.download(path, limit=limit)

    async def _send(self, kind: str, chat_id: int, text: str, buttons: Any, *, paid: bool) -> str:
        extra = buttons if isinstance(buttons, dict) else {}
        if kind == OutboundKind.CALLBACK:
            await self.api.call(
                "answerCallbackQuery", {"callback_query_id": str(extra["callback_query_id"])}
            )
            return ""
        if kind == OutboundKind.EDIT:
            await self.api.call(
                "editMessageText",
                {"chat_id": chat_id, "message_id": int(extra["message_id"]), "text": text},
            )
            return str(extra["message_id"])
        markup = botapi.keyboard([str(b) for b in buttons]) if isinstance(buttons, list) else None
        sent = await self.api.call(
            "sendMessage",
            {
                "chat_id": chat_id,
                "text": text or "…",
                "reply_markup": markup if buttons else None,
                # Beyond Telegram's free 30 a second, paid for in Stars (outbox: the paid lane).
                "allow_paid_broadcast": True if paid else None,
            },
        )
        return str(sent.get("message_id", "")) if isinstance(sent, dict) else ""

    # --- Channel posts (channels.broadcast) -----------------------------------------------

    def deliver_post(
        self, action: str, target: str, text: str, image: bytes | None, message_id: str
    ) -> str:
        chat: int | str = int(target) if target.lstrip("-").isdigit() else target
        try:
            return self.run(self._post(action, chat, text, image, int(message_id or 0)))
        except botapi.TooManyRequests as exc:
            raise RetryAfter(exc.retry_after) from None
        except botapi.Forbidden:
            raise PermanentError("forbidden (is the bot an admin of the channel?)") from None
        except botapi.BadRequest as exc:
            words = exc.description.lower()
            if action == "edit" and "not modified" in words:
                return ""  # the channel already shows this text
            if action == "delete" and ("not found" in words or "can't be deleted" in words):
                return ""  # gone already (deleted by hand in Telegram, or too old)
            raise PermanentError(f"bad request: {exc.description}"[:200]) from None
        except botapi.BotApiError as exc:
            raise TransientError(f"{type(exc).__name__} {exc.code}".strip()) from None

    async def _post(
        self, action: str, chat: int | str, text: str, image: bytes | None, message_id: int
    ) -> str:
        if action == "delete":
            await self.api.call("deleteMessage", {"chat_id": chat, "message_id": message_id})
            return str(message_id)
        if action == "edit":
            if image is not None:
                await self.api.call(
                    "editMessageCaption",
                    {"chat_id": chat, "message_id": message_id, "caption": text},
                )
            else:
                await self.api.call(
                    "editMessageText", {"chat_id": chat, "message_id": message_id, "text": text}
                )
            return str(message_id)
        if image is not None:
            sent = await self.api.call(
                "sendPhoto",
                {"chat_id": chat, "caption": text},
                files={"photo": ("post.jpg", image)},
            )
        else:
            sent = await self.api.call("sendMessage", {"chat_id": chat, "text": text})
        return str(sent.get("message_id", "")) if isinstance(sent, dict) else ""


def bulk_input(event: InboundEvent) -> Any:
    """The event as a bulk step's input (:mod:`lifeline.conversations.bulk`) if it is a plain
    text from a person in a private chat; None for anything else (a button, a file, a group).
    Raises ValueError for an update that does not read."""
    from lifeline.conversations.bulk import TextInput

    update = parse(event.payload)
    message = update.message
    if message is None or message.sender is None or message.chat_type != "private":
        return None
    if not message.text:
        return None
    return TextInput(
        channel=Channel.TELEGRAM,
        address=str(message.sender.id),
        language=language(message.sender.language_code),
        text=message.text,
    )
