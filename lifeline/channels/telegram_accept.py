"""The webhook's durable accept: the least work that makes an update safe, then the 200.

Minimal validation here (an integer update id in range, a chat id where Lifeline reads the
update), one INSERT … ON CONFLICT DO NOTHING, no aiogram import: parsing the update fully is
the worker's job (:func:`lifeline.channels.telegram.handle_event`). A malformed update that
passes this gate fails there, visibly (console: failed messages), instead of being lost.

:func:`prepare` is the decision (pure, no database: the accept server calls it in its event
loop); :func:`accept` adds the INSERT, for the Django view and long polling.
"""

from __future__ import annotations

from typing import Any

from lifeline.contacts import blocks
from lifeline.core import crypto
from lifeline.core.channels import Channel

from . import inbox

#: Update kinds Lifeline reads. Others are acknowledged and dropped: a refused update would be
#: redelivered by Telegram forever.
HANDLED_UPDATES = ("message", "edited_message", "callback_query")
#: Telegram's ids fit in 52 bits (chat ids may be negative).
MAX_ID = 2**53 - 1


class NotAnUpdate(ValueError):
    """The body is not a Telegram update Lifeline can accept."""


def _id(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not -MAX_ID <= value <= MAX_ID:
        raise NotAnUpdate("bad id")
    return value


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise NotAnUpdate("not an object")
    return value


def chat_id_of(data: dict[str, Any]) -> int | None:
    """The chat an update belongs to; None for a kind Lifeline does not read."""
    for kind in ("message", "edited_message"):
        if data.get(kind) is not None:
            return _id(_object(_object(data[kind]).get("chat")).get("id"))
    if data.get("callback_query") is not None:
        query = _object(data["callback_query"])
        if query.get("message") is not None:
            return _id(_object(_object(query["message"]).get("chat")).get("id"))
        return _id(_object(query.get("from")).get("id"))
    return None


def prepare(data: Any, *, reload_blocks: bool = True) -> tuple[int, str] | None:
    """(update id, the chat's blind index) of an update to store; None for a kind Lifeline
    does not read, or from a sender a supervisor blocked (:mod:`lifeline.contacts.blocks`):
    acknowledged and dropped unstored. Raises :class:`NotAnUpdate`. ``reload_blocks=False``:
    never read the database here (the caller keeps the blocks' snapshot fresh)."""
    update_id = _id(_object(data).get("update_id"))
    if update_id < 0:
        raise NotAnUpdate("negative update id")
    chat_id = chat_id_of(data)
    if chat_id is None:
        return None
    key = crypto.telegram_id_index(chat_id)
    if blocks.blocked(Channel.TELEGRAM, key, reload=reload_blocks):
        return None  # a blocked sender: acknowledged, and dropped before anything is stored
    return update_id, key


def accept(data: dict[str, Any]) -> bool:
    """Commit the update (a redelivery is a no-op). False for a kind Lifeline does not read, or
    from a sender a supervisor blocked: dropped unstored."""
    found = prepare(data)
    if found is None:
        return False
    update_id, key = found
    inbox.inbound_accept(
        channel=Channel.TELEGRAM,
        external_id=str(update_id),
        payload=data,
        ordering_key=key,
        arrival=update_id,
    )
    return True
