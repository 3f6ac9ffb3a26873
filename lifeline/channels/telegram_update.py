"""Reading a stored Telegram update: the fields Lifeline uses, each checked for its type.

The webhook checked only an update id and a chat id (:mod:`.telegram_accept`); here, in the
worker, the rest is read. A field Lifeline reads that has the wrong type raises
:class:`MalformedUpdate`: the event then fails visibly (console: failed messages) instead of
being half-understood. Fields Lifeline does not read are not looked at, so a Bot API that adds
fields (it does, every few months) changes nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Telegram's ids fit in 52 bits (chat ids may be negative).
MAX_ID = 2**53 - 1
#: Kinds of file Lifeline does not keep: the person is asked politely for text instead.
OTHER_MEDIA = ("audio", "video", "video_note", "sticker", "document", "animation")


class MalformedUpdate(ValueError):
    """A field Lifeline reads is missing or of the wrong type."""


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedUpdate(f"{what} is not an object")
    return value


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not -MAX_ID <= value <= MAX_ID:
        raise MalformedUpdate(f"{what} is not an id")
    return value


def _str(value: Any, what: str, *, optional: bool = True) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise MalformedUpdate(f"{what} is not text")
    return value


def _number(value: Any, what: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise MalformedUpdate(f"{what} is not a number")
    return float(value)


def _size(value: Any, what: str) -> int:
    """A file size or a duration: absent counts as 0."""
    if value is None:
        return 0
    number = _int(value, what)
    if number < 0:
        raise MalformedUpdate(f"{what} is negative")
    return number


@dataclass(frozen=True)
class PhotoSize:
    file_id: str
    width: int
    height: int
    file_size: int


@dataclass(frozen=True)
class Voice:
    file_id: str
    duration: int
    file_size: int


@dataclass(frozen=True)
class Sender:
    id: int
    language_code: str


@dataclass(frozen=True)
class MessageIn:
    """A message (new or edited) in a chat."""

    message_id: int
    chat_id: int
    chat_type: str
    sender: Sender | None
    edited: bool = False
    text: str = ""
    caption: str = ""
    contact_phone: str = ""
    location: tuple[float, float] | None = None
    photo: tuple[PhotoSize, ...] = ()
    voice: Voice | None = None
    other_media: bool = False


@dataclass(frozen=True)
class ButtonPress:
    """A press on one of the bot's inline buttons."""

    id: str
    sender: Sender
    data: str
    #: The message the buttons were on, when Telegram still has it (id and text).
    message_id: int | None = None
    message_text: str = ""
    chat_id: int | None = None


@dataclass(frozen=True)
class Update:
    update_id: int
    message: MessageIn | None = None
    button: ButtonPress | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _sender(value: Any, what: str) -> Sender:
    data = _object(value, what)
    return Sender(
        id=_int(data.get("id"), f"{what}.id"),
        language_code=_str(data.get("language_code"), f"{what}.language_code"),
    )


def _photo(value: Any) -> tuple[PhotoSize, ...]:
    if not isinstance(value, list):
        raise MalformedUpdate("photo is not a list")
    sizes = []
    for item in value:
        data = _object(item, "photo size")
        sizes.append(
            PhotoSize(
                file_id=_str(data.get("file_id"), "photo.file_id", optional=False),
                width=_size(data.get("width"), "photo.width"),
                height=_size(data.get("height"), "photo.height"),
                file_size=_size(data.get("file_size"), "photo.file_size"),
            )
        )
    return tuple(sizes)


def _message(value: Any, *, edited: bool) -> MessageIn:
    data = _object(value, "message")
    chat = _object(data.get("chat"), "message.chat")
    sender = data.get("from")
    location = None
    if data.get("location") is not None:
        place = _object(data["location"], "location")
        location = (
            _number(place.get("latitude"), "location.latitude"),
            _number(place.get("longitude"), "location.longitude"),
        )
    contact_phone = ""
    if data.get("contact") is not None:
        contact = _object(data["contact"], "contact")
        contact_phone = _str(contact.get("phone_number"), "contact.phone_number", optional=False)
    voice = None
    if data.get("voice") is not None:
        raw = _object(data["voice"], "voice")
        voice = Voice(
            file_id=_str(raw.get("file_id"), "voice.file_id", optional=False),
            duration=_size(raw.get("duration"), "voice.duration"),
            file_size=_size(raw.get("file_size"), "voice.file_size"),
        )
    return MessageIn(
        message_id=_int(data.get("message_id"), "message.message_id"),
        chat_id=_int(chat.get("id"), "message.chat.id"),
        chat_type=_str(chat.get("type"), "message.chat.type"),
        sender=_sender(sender, "message.from") if sender is not None else None,
        edited=edited,
        text=_str(data.get("text"), "message.text"),
        caption=_str(data.get("caption"), "message.caption"),
        contact_phone=contact_phone,
        location=location,
        photo=_photo(data["photo"]) if data.get("photo") is not None else (),
        voice=voice,
        other_media=any(data.get(kind) is not None for kind in OTHER_MEDIA),
    )


def _button(value: Any) -> ButtonPress:
    data = _object(value, "callback_query")
    message_id = message_text = chat_id = None
    if data.get("message") is not None:
        message = _object(data["message"], "callback_query.message")
        message_id = _int(message.get("message_id"), "callback_query.message.message_id")
        message_text = _str(message.get("text"), "callback_query.message.text")
        chat_id = _int(
            _object(message.get("chat"), "callback_query.message.chat").get("id"),
            "callback_query.message.chat.id",
        )
    return ButtonPress(
        id=_str(data.get("id"), "callback_query.id", optional=False),
        sender=_sender(data.get("from"), "callback_query.from"),
        data=_str(data.get("data"), "callback_query.data"),
        message_id=message_id,
        message_text=message_text or "",
        chat_id=chat_id,
    )


def parse(data: Any) -> Update:
    """The parts of an update Lifeline reads. Raises :class:`MalformedUpdate`."""
    body = _object(data, "update")
    update_id = _int(body.get("update_id"), "update_id")
    if body.get("message") is not None:
        return Update(update_id, message=_message(body["message"], edited=False))
    if body.get("edited_message") is not None:
        return Update(update_id, message=_message(body["edited_message"], edited=True))
    if body.get("callback_query") is not None:
        return Update(update_id, button=_button(body["callback_query"]))
    return Update(update_id)


def language(code: str | None) -> str:
    """The conversation's language from the person's Telegram interface language."""
    code = (code or "").lower()
    if code.startswith("uk"):
        return "uk"
    if code.startswith("ru") or code.startswith("be"):
        return "ru"
    return "en" if code else "ru"
