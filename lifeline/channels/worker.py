"""The worker loop: inbox first, then the outbox, then a short nap."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connections

from lifeline.core.channels import Channel
from lifeline.stats import rollups

from . import broadcast, inbox, outbox

log = logging.getLogger(__name__)


def senders() -> dict[str, outbox.Sender]:
    found: dict[str, outbox.Sender] = {}
    if settings.TELEGRAM_BOT_TOKEN:
        from .telegram import TelegramSender

        found[Channel.TELEGRAM] = TelegramSender()
    return found


ROLLUP_EVERY = 5.0  # seconds between two counts of new statistics events into the rollups
PROCESS_PER_PASS = 50  # inbound events between two sending passes (a few batches)
MAX_PAUSE = 30.0  # seconds between tries while the database or network stays down


def run(stop: threading.Event, *, idle_sleep: float = 0.2, once: bool = False) -> None:
    """Process and send until ``stop`` is set. A failed pass (the database restarted, the network
    dropped) is logged and tried again with a growing pause: the loop itself never dies."""
    active = senders()
    failures = 0
    next_rollup = 0.0
    try:
        while not stop.is_set():
            try:
                close_old_connections()
                worked = inbox.process_all(limit=PROCESS_PER_PASS)
                worked += outbox.send_all(active, limit=30) if active else 0
                poster = active.get(Channel.TELEGRAM)
                if isinstance(poster, broadcast.PostSender):
                    worked += broadcast.send_all(poster)  # the channels' posts
                if time.monotonic() >= next_rollup:  # the figures, a few seconds behind
                    next_rollup = time.monotonic() + ROLLUP_EVERY
                    worked += rollups.rollup()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one pass
                failures += 1
                log.warning(
                    "worker pass failed (%s, %s in a row); trying again",
                    type(exc).__name__,
                    failures,
                )
                _drop_connections()
                if once:
                    break
                stop.wait(min(MAX_PAUSE, idle_sleep * 2**failures))
                continue
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


def _drop_connections() -> None:
    """Close this thread's database connections, usable or not: the next pass reconnects."""
    for conn in connections.all():
        with contextlib.suppress(Exception):  # a dead connection may fail to close: it is gone
            conn.close()


def supervise(stop: threading.Event) -> None:
    """The embedded default's worker thread: restarted if it ever ends before ``stop``."""
    while not stop.is_set():
        try:
            run(stop)
        except BaseException as exc:  # noqa: BLE001 - keep the hotline answering
            log.error("worker stopped (%s); restarting", type(exc).__name__)
            stop.wait(1.0)


def start_in_thread() -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=supervise, args=(stop,), name="lifeline-worker", daemon=True)
    thread.start()
    return thread, stop
