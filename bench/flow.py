"""Part (b): flow steps per second — ``manage.py worker`` processes on PostgreSQL draining a
backlog of stored updates from many chats (each chat typing the intake form's answers in
order), replies sent to the fake Bot API.

A flow step is one inbound event taken from the inbox, run through its conversation, its
replies stored in the outbox and the event marked done (one transaction). The rate is counted
between the first and the last event marked done (``processed_at``), so process start-up is
not in it; the wall time from starting the workers is printed too."""

from __future__ import annotations

import time

from .common import say
from .context import Context
from .servers import helper, start_workers, stop_many

TARGET = 1000.0  # steps/s with 2 workers


def run(ctx: Context) -> None:
    cfg = ctx.cfg
    total = cfg.backlog_chats * cfg.backlog_inputs
    say(
        f"\n(b) flow steps: {cfg.worker_processes} workers draining {total} stored updates "
        f"({cfg.backlog_chats} chats x {cfg.backlog_inputs} messages)"
    )
    ctx.dbs.fresh()
    seeded = helper(
        ctx.env,
        "seed",
        str(cfg.backlog_chats),
        str(cfg.backlog_inputs),
        str(ctx.update_ids(total)),
    )
    say(f"  stored {seeded['stored']} updates in {seeded['seconds']:.1f} s (one process)")
    ctx.api.reset()
    deadline_seconds = max(120.0, total / 5)
    workers = start_workers(ctx.env, cfg.worker_processes)
    started = time.monotonic()
    counts: dict[str, int] = {}
    try:
        while time.monotonic() - started < deadline_seconds:
            ctx.memory.sample("worker", workers)
            counts = ctx.dbs.inbox_counts()
            if counts.get("pending", 0) == 0:
                break
            if any(w.poll() is not None for w in workers):
                raise RuntimeError("a worker exited: see var/bench/worker-*.log")
            time.sleep(0.5)
        wall = time.monotonic() - started
    finally:
        stop_many(workers)
    _, sends = ctx.api.first_sends()
    done = counts.get("done", 0)
    failed = counts.get("failed", 0)
    pending = counts.get("pending", 0)
    span = ctx.dbs.processed_span()
    rate = (done - 1) / (span[1] - span[0]) if span and done > 1 and span[1] > span[0] else 0.0
    ctx.report.add(
        "b",
        f"flow steps/s, {cfg.worker_processes} workers, {total}-update backlog",
        f"{rate:8.1f} steps/s  (done {done}, failed {failed}, left {pending}; "
        f"wall {wall:.1f} s incl. start-up)",
        f">= {TARGET:.0f} steps/s with 2 workers",
        rate >= TARGET and pending == 0 and failed == 0,
    )
    ctx.report.add(
        "b",
        "replies sent by the time the workers stopped",
        f"{sends.get('sendMessage', 0)} sendMessage; the busiest second held "
        f"{ctx.api.busiest_free_second()} (the bot's budget: 30 in any second)",
    )
