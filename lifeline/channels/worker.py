"""The worker loop: inbox first, then the outbox, then a short nap."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

from lifeline.core.channels import Channel

from . import inbox, outbox

log = logging.getLogger(__name__)


def senders() -> dict[str, outbox.Sender]:
    found: dict[str, outbox.Sender] = {}
    if settings.TELEGRAM_BOT_TOKEN:
        from .telegram import TelegramSender

        found[Channel.TELEGRAM] = TelegramSender()
    return found


def run(stop: threading.Event, *, idle_sleep: float = 0.2, once: bool = False) -> None:
    active = senders()
    try:
        while not stop.is_set():
            close_old_connections()
            worked = inbox.process_all(limit=100)
            worked += outbox.send_all(active, limit=100) if active else 0
            if once:
                break
            if not worked:
                stop.wait(idle_sleep)
    finally:
        for sender in active.values():
            close = getattr(sender, "close", None)
            if close:
                close()
        close_old_connections()


def start_in_thread() -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,), name="lifeline-worker", daemon=True)
    thread.start()
    return thread, stop
