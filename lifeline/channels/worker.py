"""The worker: inbox processing in its main loop, sending in a thread of its own.

The two never wait for each other: a burst of inbound messages does not hold replies back,
and a slow or paused Bot API does not hold up the processing of what people write. Each loop
survives anything a pass raises (a database restart, a network failure, an answer no one
mapped): the pass is logged and tried again after a growing pause. A loop that ends anyway is
restarted by its supervisor.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections

from lifeline.conversations import host
from lifeline.core.channels import Channel
from lifeline.stats import rollups

from . import broadcast, inbox, outbox, retention

log = logging.getLogger(__name__)


def senders() -> dict[str, outbox.Sender]:
    found: dict[str, outbox.Sender] = {}
    if settings.TELEGRAM_BOT_TOKEN:
        from .telegram import TelegramSender

        found[Channel.TELEGRAM] = TelegramSender()
    return found


ROLLUP_EVERY = 5.0  # seconds between two counts of new statistics events into the rollups
PROCESS_PER_PASS = 500  # inbound events in one inbox pass (a few batches)
MAX_PAUSE = 30.0  # seconds between tries while the database or network stays down
#: Seconds a busy thread may hold the interpreter before the other gets it (Python's default
#: is 5 ms: every database round trip of a send's record could wait that long).
SWITCH_INTERVAL = 0.0005


def _loop(
    name: str,
    stop: threading.Event,
    one_pass: Callable[[], int],
    *,
    idle_sleep: float,
    once: bool = False,
) -> None:
    """Run ``one_pass`` until ``stop``; sleep when it found nothing to do. A failed pass (the
    database restarted, the network dropped) is logged and tried again with a growing pause:
    the loop itself never dies."""
    failures = 0
    while not stop.is_set():
        try:
            close_old_connections()
            worked = one_pass()
            failures = 0
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any one pass
            failures += 1
            log.warning(
                "%s pass failed (%s, %s in a row); trying again",
                name,
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


def _inbox_pass() -> Callable[[], int]:
    next_rollup = 0.0
    next_purge = 0.0

    def one_pass() -> int:
        nonlocal next_rollup, next_purge
        worked = inbox.process_all(limit=PROCESS_PER_PASS)
        if time.monotonic() >= next_rollup:  # the figures, a few seconds behind
            next_rollup = time.monotonic() + ROLLUP_EVERY
            worked += rollups.rollup()
        if time.monotonic() >= next_purge:  # data past its retention time (one worker's turn)
            next_purge = time.monotonic() + retention.PURGE_EVERY
            erased = retention.run_purges()
            if erased:
                log.info("retention: %s", ", ".join(f"{k} {v}" for k, v in sorted(erased.items())))
        return worked

    return one_pass


def _send_pass(active: dict[str, outbox.Sender]) -> Callable[[], int]:
    def one_pass() -> int:
        worked = outbox.send_all(active)
        poster = active.get(Channel.TELEGRAM)
        if isinstance(poster, broadcast.PostSender):
            worked += broadcast.send_all(poster)  # the channels' posts
        return worked

    return one_pass


def _sending(stop: threading.Event, idle_sleep: float) -> None:
    """The sender thread: its own database connection, its own Bot API connection."""
    active = senders()
    if not active:
        return
    try:
        _loop("sending", stop, _send_pass(active), idle_sleep=idle_sleep)
    finally:
        for sender in active.values():
            close = getattr(sender, "close", None)
            if close:
                with contextlib.suppress(Exception):
                    close()
        connections.close_all()


def run(stop: threading.Event, *, idle_sleep: float = 0.2, once: bool = False) -> None:
    """Process and send until ``stop`` is set (``once``: one pass of each, then return)."""
    with contextlib.suppress(Exception):  # compile the flows before the first message
        host.current_flows()
    if once:
        _loop("inbox", stop, _inbox_pass(), idle_sleep=idle_sleep, once=True)
        active = senders()
        try:
            if active:
                _loop("sending", stop, _send_pass(active), idle_sleep=idle_sleep, once=True)
        finally:
            for sender in active.values():
                close = getattr(sender, "close", None)
                if close:
                    close()
            close_old_connections()
        return
    # The sender thread must not wait long for the interpreter while the inbox loop computes:
    # between Telegram's acceptance of a message and its record, a crash would send it again.
    sys.setswitchinterval(SWITCH_INTERVAL)
    sending = threading.Thread(
        target=_supervised,
        args=("sender", stop, lambda: _sending(stop, min(idle_sleep, 0.05))),
        name="lifeline-sender",
        daemon=True,
    )
    sending.start()
    try:
        _loop("inbox", stop, _inbox_pass(), idle_sleep=idle_sleep)
    finally:
        stop.set()
        sending.join(30)
        close_old_connections()


def _supervised(name: str, stop: threading.Event, target: Callable[[], None]) -> None:
    """Run ``target`` again whenever it ends before ``stop`` (it should not: its loop catches
    every failure; this is the last line)."""
    while not stop.is_set():
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - keep the hotline answering
            log.error("%s stopped (%s); restarting", name, type(exc).__name__)
        if not stop.is_set():
            stop.wait(1.0)


def _drop_connections() -> None:
    """Close this thread's database connections, usable or not: the next pass reconnects."""
    for conn in connections.all():
        with contextlib.suppress(Exception):  # a dead connection may fail to close: it is gone
            conn.close()


def supervise(stop: threading.Event) -> None:
    """The embedded default's worker thread: restarted if it ever ends before ``stop``."""
    _supervised("worker", stop, lambda: run(stop))


def start_in_thread() -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=supervise, args=(stop,), name="lifeline-worker", daemon=True)
    thread.start()
    return thread, stop
