"""Part (c): from the webhook's answer to the first reply, and part (d): resident memory.

Lifeline as in production: the webhook's accept server with 2 processes (BENCH_SERVER=gunicorn
or uvicorn to compare), 2 ``manage.py worker`` processes, PostgreSQL, Redis cache, the fake Bot
API. Every new chat's first reply is a message to someone who has not written before: Telegram
lets a bot send about 30 of those a second for free, so at 100 new chats a second the replies
queue; run once on that free lane alone (the bound Telegram sets), then with the paid lane of
BENCH_PAID_PER_SECOND (200) paid broadcasts a second on top (LIFELINE_TELEGRAM_PAID_PER_SECOND).
Every update comes from a new chat ("/start"), so its first reply is the first ``sendMessage``
the fake Bot API receives for that chat; latency = that receipt time minus the time the
webhook's answer reached the sender. Telegram opens at most 40 connections to a webhook (its default
``max_connections``), so the sender uses 40.

* sustained: BENCH_SUSTAINED_RATE updates/s (100) for BENCH_SUSTAINED_SECONDS (60; 10 quick);
* burst: BENCH_BURST updates (2000; 300 quick) sent at once.
Replies are awaited up to BENCH_REPLY_WAIT seconds after the last answer; a reply still missing
then counts as "later than that" (the percentile is then a lower bound, marked ">").
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .common import ms, say
from .context import Context
from .load import OpenLoopResult, open_loop
from .servers import start_web, start_workers, stop, stop_many, warm_up
from .updates import body

CONNECTIONS = 40  # Telegram's default max_connections for a webhook
RSS_TARGET_MB = 200.0


@contextmanager
def lifeline_running(ctx: Context, paid: int) -> Iterator[str]:
    """Web + workers on a fresh database; yields the webhook's URL once all is idle."""
    ctx.dbs.fresh()
    web, port = start_web(ctx.cfg.server, ctx.env, ctx.cfg.web_processes)
    workers = start_workers(
        ctx.env, ctx.cfg.worker_processes, {"LIFELINE_TELEGRAM_PAID_PER_SECOND": str(paid)}
    )
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(1.0):
            ctx.memory.sample("web", [web])
            ctx.memory.sample("worker", workers)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        url = f"http://127.0.0.1:{port}{ctx.webhook_path}"
        warm_up(url, ctx.secret, 4 * ctx.cfg.web_processes, ctx.update_ids(10))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the warm-up's updates and replies are through
            if not ctx.dbs.inbox_counts().get("pending") and not ctx.dbs.outbox_counts().get(
                "pending"
            ):
                break
            time.sleep(0.5)
        ctx.api.reset()
        yield url
    finally:
        stop_sampling.set()
        sampler.join(5)
        ctx.memory.sample("web", [web])
        ctx.memory.sample("worker", workers)
        stop_many(workers)
        stop(web)


def _replies(ctx: Context, sent: OpenLoopResult) -> tuple[list[float], int]:
    """Wait (bounded) for every acknowledged chat's first reply; (latencies, missing)."""
    acked = {s.key: s.answered_at for s in sent.ok}
    deadline = time.monotonic() + ctx.cfg.reply_wait
    first: dict[int, float] = {}
    shown = time.monotonic()
    while True:
        first, _ = ctx.api.first_sends()
        missing = sum(1 for chat in acked if chat not in first)
        if not missing or time.monotonic() > deadline:
            break
        if time.monotonic() - shown > 15:
            say(f"  ... {len(acked) - missing}/{len(acked)} first replies so far")
            shown = time.monotonic()
        time.sleep(1.0)
    latencies = [first[chat] - at for chat, at in acked.items() if chat in first]
    return latencies, missing


def _describe(latencies: list[float], missing: int) -> tuple[str, float, float]:
    """Figures with missing replies counted as later than the wait."""
    padded = sorted(latencies) + [math.inf] * missing
    total = len(padded)

    def at(q: float) -> float:
        return padded[min(total - 1, max(0, math.ceil(q / 100 * total) - 1))] if total else math.nan

    def show(value: float) -> str:
        return f"> {ms(max(latencies, default=0.0))}" if math.isinf(value) else ms(value)

    p50, p99 = at(50), at(99)
    text = f"p50 {show(p50)}  p99 {show(p99)}  max {show(at(100))}"
    if missing:
        text += f"  ({missing} of {total} unanswered when the wait ended)"
    return text, p50, p99


def _lane(paid: int) -> str:
    return f"free 30/s + paid {paid}/s" if paid else "Telegram's free 30/s only"


def sustained(ctx: Context, *, paid: int, seconds: float) -> None:
    cfg = ctx.cfg
    count = int(cfg.sustained_rate * seconds)
    say(
        f"\n(c) ack -> first reply: {cfg.sustained_rate} updates/s for "
        f"{seconds:.0f} s, each from a new chat, {cfg.server}, {_lane(paid)}"
    )
    with lifeline_running(ctx, paid) as url:
        first = ctx.update_ids(count)

        def make(i: int) -> tuple[int, bytes]:
            chat = 730_000_000 + i
            return chat, body(first + i, chat, "/start")

        sent = open_loop(
            url,
            secret=ctx.secret,
            rate=cfg.sustained_rate,
            count=count,
            make=make,
            connections=CONNECTIONS,
        )
        latencies, missing = _replies(ctx, sent)
        busiest = ctx.api.busiest_free_second()
    ctx.report.add(
        "c",
        f"webhook answer during {cfg.sustained_rate}/s, {_lane(paid)}",
        f"p50 {ms(sent.latency(50))}  p99 {ms(sent.latency(99))}  "
        f"non-2xx {sent.non2xx}  no answer {sent.errors}",
    )
    text, _, p99 = _describe(latencies, missing)
    text += f"  (free sends in the busiest second: {busiest}, budget 30)"
    label = f"ack -> first reply at {cfg.sustained_rate}/s for {seconds:.0f} s, {_lane(paid)}"
    if not paid:
        # Telegram's bound, not a target: 100 first replies a second through 30 a second.
        ctx.report.add("c", label, text)
        return
    ctx.report.add(
        "c",
        label,
        text,
        "p99 <= 2 s at 100 updates/s",
        p99 <= 2.0 and not sent.non2xx and not sent.errors,
    )


def burst(ctx: Context, *, paid: int) -> None:
    cfg = ctx.cfg
    say(
        f"\n(c) ack -> first reply: a burst of {cfg.burst} updates at once, each a new chat, "
        f"{cfg.server}, {_lane(paid)}"
    )
    with lifeline_running(ctx, paid) as url:
        first = ctx.update_ids(cfg.burst)

        def make(i: int) -> tuple[int, bytes]:
            chat = 740_000_000 + i
            return chat, body(first + i, chat, "/start")

        sent = open_loop(
            url, secret=ctx.secret, rate=0, count=cfg.burst, make=make, connections=CONNECTIONS
        )
        latencies, missing = _replies(ctx, sent)
        busiest = ctx.api.busiest_free_second()
    ctx.report.add(
        "c",
        f"burst of {cfg.burst}: all answered by the webhook in",
        f"{sent.seconds:.1f} s ({len(sent.ok) / sent.seconds:.0f}/s)  "
        f"non-2xx {sent.non2xx}  no answer {sent.errors}",
    )
    text, _, _ = _describe(latencies, missing)
    text += f"  (free sends in the busiest second: {busiest}, budget 30)"
    ctx.report.add("c", f"ack -> first reply, burst of {cfg.burst}, {_lane(paid)}", text)


def memory(ctx: Context) -> None:
    say("\n(d) resident memory (VmRSS, largest seen per process)")
    for kind in ("web", "worker"):
        if kind not in ctx.memory.peak:
            continue
        peak = ctx.memory.peak[kind]
        ctx.report.add(
            "d",
            f"RSS per {kind} process",
            f"{peak:6.1f} MB  (VmHWM {ctx.memory.hwm[kind]:.1f} MB)",
            f"<= {RSS_TARGET_MB:.0f} MB per process",
            peak <= RSS_TARGET_MB,
        )


def run(ctx: Context) -> None:
    cfg = ctx.cfg
    sustained(ctx, paid=0, seconds=min(cfg.sustained_seconds, 20.0))
    sustained(ctx, paid=cfg.paid_per_second, seconds=cfg.sustained_seconds)
    burst(ctx, paid=cfg.paid_per_second)
