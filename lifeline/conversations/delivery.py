"""Replies, and the one way conversations hand them to a channel's outbox.

Conversations sit below the channels: they never import them. A channel that sends replies
itself (Telegram) registers its outbox writer here when its app is ready; conversations call
:func:`deliver` inside their own transaction, so a reply is stored with the change that caused
it. A channel with no writer (the web chat shows stored messages) needs none.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One message to the person. A ``secret`` reply (it shows his code words) is delivered
    once and stored only as ``placeholder``; ``message_id`` is its transcript row."""

    text: str
    buttons: tuple[str, ...] = ()
    secret: bool = False
    placeholder: str = ""
    message_id: uuid.UUID | None = None

    @property
    def stored_text(self) -> str:
        return self.placeholder if self.secret else self.text


#: The longest message a channel takes (Telegram's limit is 4,096 characters).
MAX_MESSAGE = 4096


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut a long text into parts of at most ``limit`` characters, at a paragraph, line or word
    break where there is one, so that nothing is lost and no part is refused."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


Writer = Callable[[Any, str, list[Reply]], None]
_writers: dict[str, Writer] = {}


def register(channel: str, writer: Writer) -> None:
    """A channel's outbox writer: ``writer(conversation, channel, replies)``."""
    _writers[channel] = writer


def deliver(conversation: Any, replies: list[Reply]) -> None:
    """Queue the replies on the conversation's channel, if that channel sends replies."""
    writer = _writers.get(conversation.channel)
    if writer is not None and replies:
        writer(conversation, conversation.channel, replies)


#: What the channels hold of a person besides the transcript (their inbox and outbox rows):
#: each ``eraser(contact, identity_indexes, waiting)`` erases it and returns counts by name;
#: ``waiting``: his events not yet processed go too (a supervisor's erasure; after his own
#: /forget they are what he wrote after it, a new start).
Eraser = Callable[[Any, list[str], bool], dict[str, int]]
_erasers: list[Eraser] = []


def register_eraser(eraser: Eraser) -> None:
    if eraser not in _erasers:
        _erasers.append(eraser)


def erase_channels(contact: Any, indexes: list[str], *, waiting: bool) -> dict[str, int]:
    """Run every channel's eraser for this person; the counts they return."""
    counts: dict[str, int] = {}
    for eraser in _erasers:
        for name, count in eraser(contact, indexes, waiting).items():
            counts[name] = counts.get(name, 0) + count
    return counts
