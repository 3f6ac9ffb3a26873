"""Telegram through aiogram 3: its types and its Bot API client.

* Inbound: :func:`store_update` puts an update in the inbox (webhook and long polling alike);
  :func:`handle_event` turns it into conversation input.
* Outbound: :class:`TelegramSender` sends messages, edits and button answers.

Chats are keyed by a blind index of the chat id; the id itself is kept only encrypted (in the
contact's identity) and decrypted at the moment a message is sent.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Update
from django.conf import settings

from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations import media
from lifeline.conversations.host import Reply, conversation_input, store_replies
from lifeline.conversations.models import Conversation, ConversationStatus, MediaKind
from lifeline.core import crypto
from lifeline.core.channels import Channel

from . import inbox
from .models import InboundEvent, OutboundKind, OutboundMessage
from .outbox import PermanentError, RetryAfter, TransientError

log = logging.getLogger(__name__)

MEDIA = ("voice", "audio", "photo", "video", "video_note", "sticker", "document", "animation")


def _language(code: str | None) -> str:
    code = (code or "").lower()
    if code.startswith("uk"):
        return "uk"
    if code.startswith("ru") or code.startswith("be"):
        return "ru"
    return "en" if code else "ru"


def _chat_id(update: Update) -> int | None:
    if update.message is not None:
        return update.message.chat.id
    if update.edited_message is not None:
        return update.edited_message.chat.id
    if update.callback_query is not None and update.callback_query.message is not None:
        return update.callback_query.message.chat.id
    if update.callback_query is not None:
        return update.callback_query.from_user.id
    return None


#: Update kinds Lifeline reads. Others are dropped before aiogram parses them: its models may
#: lag behind or run ahead of the Bot API, and a refused update would be redelivered forever.
HANDLED_UPDATES = ("message", "edited_message", "callback_query")


def store_update(data: dict[str, Any]) -> inbox.Stored | None:
    """Commit one Telegram update to the inbox. None for updates Lifeline ignores.
    Raises ``ValueError`` (pydantic's ``ValidationError``) for a malformed handled update."""
    if not any(data.get(kind) is not None for kind in HANDLED_UPDATES):
        return None
    update = Update.model_validate(data)
    chat_id = _chat_id(update)
    if chat_id is None:
        return None
    return inbox.inbound_store(
        channel=Channel.TELEGRAM,
        external_id=str(update.update_id),
        payload=data,
        ordering_key=crypto.telegram_id_index(chat_id),
        arrival=update.update_id,
    )


def _conversation(user_id: int, language: str) -> Conversation:
    identity = identity_get_or_create(
        channel=Channel.TELEGRAM, address=str(user_id), language=language
    )
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
            language=identity.contact.language if identity.contact.language else language,
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
    update = Update.model_validate(event.payload)
    message = update.message or update.edited_message
    if update.callback_query is not None:
        query = update.callback_query
        conversation = _conversation(query.from_user.id, _language(query.from_user.language_code))
        _queue(conversation, OutboundKind.CALLBACK, extra={"callback_query_id": query.id})
        label = _button_label(conversation, query.data or "")
        if label is None:
            return conversation, []
        if query.message is not None and getattr(query.message, "text", None):
            _queue(
                conversation,
                OutboundKind.EDIT,
                text=f"{query.message.text}\n\n✓ {label}",  # type: ignore[union-attr]
                extra={"message_id": query.message.message_id},
            )
        return conversation, conversation_input(conversation, label, locked=True)
    if message is None or message.from_user is None:
        return None, []
    if message.chat.type != "private":
        return None, []  # the bot talks one to one only
    conversation = _conversation(message.from_user.id, _language(message.from_user.language_code))
    if message.text:
        return conversation, conversation_input(conversation, message.text, locked=True)
    if message.contact is not None:
        return conversation, conversation_input(
            conversation, message.contact.phone_number, locked=True
        )
    if message.location is not None:
        where = f"{message.location.latitude:.4f}, {message.location.longitude:.4f}"
        return conversation, conversation_input(conversation, where, locked=True)
    if message.photo or message.voice:
        if update.edited_message is not None:
            return conversation, []  # an edited caption: the file is already kept
        return conversation, _media(conversation, message)
    if any(getattr(message, kind, None) for kind in MEDIA):
        return conversation, media.refusal(conversation, "other")
    return conversation, []


def _media(conversation: Conversation, message: Any) -> list[Reply]:
    """A photo or a voice message: into the transcript now, fetched later by the sender (a
    download must not hold the person's message step). Too large: a polite no."""
    limit = settings.LIFELINE_MEDIA_MAX_BYTES
    if message.photo:
        # Telegram offers each photo in several sizes: the largest one within the limit.
        fitting = [p for p in message.photo if (p.file_size or 0) <= limit]
        if not fitting:
            return media.refusal(conversation, "large")
        file_id, kind = max(fitting, key=lambda p: p.width * p.height).file_id, MediaKind.PHOTO
    else:
        voice = message.voice
        if (voice.file_size or 0) > limit or voice.duration > settings.LIFELINE_VOICE_MAX_SECONDS:
            return media.refusal(conversation, "large")
        file_id, kind = voice.file_id, MediaKind.VOICE
    _stored, attachment, replies = media.receive(conversation, kind, message.caption or "")
    # His "kept" answer goes out first; the fetch row comes after it in the chat's outbox.
    inbox.enqueue_replies(conversation, Channel.TELEGRAM, store_replies(conversation, replies))
    _queue(
        conversation,
        OutboundKind.FETCH,
        extra={"file_id": file_id, "attachment": str(attachment.pk)},
    )
    return []


def api_server() -> TelegramAPIServer | None:
    base = settings.LIFELINE_TELEGRAM_API_BASE
    return TelegramAPIServer.from_base(base) if base else None


def new_bot() -> Bot:
    server = api_server()
    session = (
        AiohttpSession(api=server, timeout=settings.LIFELINE_TELEGRAM_TIMEOUT)
        if server
        else AiohttpSession(timeout=settings.LIFELINE_TELEGRAM_TIMEOUT)
    )
    return Bot(token=settings.TELEGRAM_BOT_TOKEN, session=session)


def _keyboard(buttons: Any) -> InlineKeyboardMarkup | None:
    if not isinstance(buttons, list) or not buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            # Numbered, as the questions say ("press a button or write its number").
            [InlineKeyboardButton(text=f"{i + 1}. {label}"[:64], callback_data=f"b:{i}")]
            for i, label in enumerate(buttons)
        ]
    )


#: Tries for a download before the file is given up (a slow network, not a missing file).
FETCH_ATTEMPTS = 3


class _Bounded(io.BytesIO):
    """A download buffer that stops at ``limit`` bytes, whatever size was announced."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.limit:
            raise media.MediaRefused("larger than announced")
        return super().write(data)


class TelegramSender:
    """Sends outbox rows with one Bot (and one event loop) for the worker's lifetime."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.bot = new_bot()

    def close(self) -> None:
        self.loop.run_until_complete(self.bot.session.close())
        self.loop.close()

    def _chat_id(self, message: OutboundMessage) -> int:
        identity = message.conversation.identity
        if identity is None:
            raise PermanentError("the conversation has no Telegram identity")
        return int(identity.address)

    def send(self, message: OutboundMessage) -> str:
        # Everything from the database is read here, outside the event loop.
        if message.kind == OutboundKind.FETCH:
            return self._fetch(message)
        chat_id = self._chat_id(message)
        text = message.text or ""
        buttons = message.buttons
        try:
            return self.loop.run_until_complete(self._send(message.kind, chat_id, text, buttons))
        except TelegramRetryAfter as exc:
            raise RetryAfter(exc.retry_after) from None
        except (TimeoutError, TelegramServerError, TelegramNetworkError) as exc:
            raise TransientError(type(exc).__name__) from None
        except TelegramForbiddenError:
            raise PermanentError("forbidden (the person blocked the bot)") from None
        except TelegramBadRequest as exc:
            if message.kind != OutboundKind.MESSAGE:
                return ""  # an old button or an unchanged edit: nothing to repeat
            raise PermanentError(f"bad request: {type(exc).__name__}") from None

    def _fetch(self, message: OutboundMessage) -> str:
        """Download a photo or voice message the person sent, then check, re-encode and store
        it (conversations.media). A file Telegram will not give, or that keeps failing, is
        marked refused, so it never holds the chat's outbox for long."""
        extra = message.buttons if isinstance(message.buttons, dict) else {}
        attachment_id = str(extra.get("attachment", ""))
        try:
            data = self.loop.run_until_complete(self._download(str(extra.get("file_id", ""))))
        except TelegramRetryAfter as exc:
            raise RetryAfter(exc.retry_after) from None
        except (
            TimeoutError,
            TelegramServerError,
            TelegramNetworkError,
            aiohttp.ClientError,
        ) as exc:
            status = getattr(exc, "status", 0) or 0
            if 400 <= status < 500 or message.attempts + 1 >= FETCH_ATTEMPTS:
                media.refuse(attachment_id)  # gone (its link lasts an hour) or keeps failing
                return ""
            raise TransientError(type(exc).__name__) from None
        except (TelegramBadRequest, TelegramForbiddenError, media.MediaRefused):
            media.refuse(attachment_id)
            return ""
        media.store(attachment_id, data)
        return ""

    async def _download(self, file_id: str) -> bytes:
        limit = settings.LIFELINE_MEDIA_MAX_BYTES
        found = await self.bot.get_file(file_id)
        if not found.file_path or (found.file_size or 0) > limit:
            raise media.MediaRefused("too large or gone")
        buffer = _Bounded(limit)
        await self.bot.download_file(found.file_path, destination=buffer, chunk_size=65536)
        return buffer.getvalue()

    async def _send(self, kind: str, chat_id: int, text: str, buttons: Any) -> str:
        extra = buttons if isinstance(buttons, dict) else {}
        if kind == OutboundKind.CALLBACK:
            await self.bot.answer_callback_query(str(extra["callback_query_id"]))
            return ""
        if kind == OutboundKind.EDIT:
            await self.bot.edit_message_text(
                text=text, chat_id=chat_id, message_id=int(extra["message_id"])
            )
            return str(extra["message_id"])
        sent = await self.bot.send_message(
            chat_id=chat_id, text=text or "…", reply_markup=_keyboard(buttons)
        )
        return str(sent.message_id)

    # --- Channel posts (channels.broadcast) -----------------------------------------------

    def deliver_post(
        self, action: str, target: str, text: str, image: bytes | None, message_id: str
    ) -> str:
        chat: int | str = int(target) if target.lstrip("-").isdigit() else target
        try:
            return self.loop.run_until_complete(
                self._post(action, chat, text, image, int(message_id or 0))
            )
        except TelegramRetryAfter as exc:
            raise RetryAfter(exc.retry_after) from None
        except (TimeoutError, TelegramServerError, TelegramNetworkError) as exc:
            raise TransientError(type(exc).__name__) from None
        except TelegramForbiddenError:
            raise PermanentError("forbidden (is the bot an admin of the channel?)") from None
        except TelegramBadRequest as exc:
            words = str(exc.message).lower()
            if action == "edit" and "not modified" in words:
                return ""  # the channel already shows this text
            if action == "delete" and ("not found" in words or "can't be deleted" in words):
                return ""  # gone already (deleted by hand in Telegram, or too old)
            raise PermanentError(f"bad request: {exc.message}"[:200]) from None

    async def _post(
        self, action: str, chat: int | str, text: str, image: bytes | None, message_id: int
    ) -> str:
        if action == "delete":
            await self.bot.delete_message(chat_id=chat, message_id=message_id)
            return str(message_id)
        if action == "edit":
            if image is not None:
                await self.bot.edit_message_caption(
                    chat_id=chat, message_id=message_id, caption=text
                )
            else:
                await self.bot.edit_message_text(text=text, chat_id=chat, message_id=message_id)
            return str(message_id)
        if image is not None:
            sent = await self.bot.send_photo(
                chat_id=chat, photo=BufferedInputFile(image, "post.jpg"), caption=text
            )
        else:
            sent = await self.bot.send_message(chat_id=chat, text=text)
        return str(sent.message_id)
