"""Part (a): the webhook's durable accept under load.

Closed loop (wrk) at 32 and 256 connections, realistic updates with unique ids, against:
* Lifeline's real webhook, production settings, PostgreSQL, 2 server processes, served two
  ways: by its own accept server (``manage.py webhook_server``: uvicorn, asyncio, updates that
  arrive together committed in one statement: production) and by the Django application under
  gunicorn (WSGI, sync workers, the webhook answered ahead of the middleware);
* for each, a bare one-INSERT application under the same server (the floor): a plain ASGI app
  with one INSERT per request (bench/bare_asgi.py), and a bare Django view (bench/bare_view.py);
* the plain aiogram webhook bot with an in-memory FSM (one process: its memory is its state).
Then an open loop at BENCH_RATE updates/s (default 500) against Lifeline, each way.
"""

from __future__ import annotations

from dataclasses import dataclass

from .common import ms, say
from .context import Context
from .load import LoadResult, closed_loop, open_loop
from .servers import start_reference_bot, start_web, stop, warm_up
from .updates import body

CONNECTIONS = (32, 256)
CHATS = 5000


def _row(ctx: Context, what: str, result: LoadResult, sessions: int | None) -> None:
    errors = f", {result.errors} no answer" if result.errors else ""
    statuses = f" ({result.statuses})" if result.statuses else ""
    ctx.report.add(
        "a",
        f"{what}, {result.connections} conns",
        f"{result.rps:7.1f} 2xx/s  p50 {ms(result.p50)}  p99 {ms(result.p99)}  "
        f"non-2xx {result.non2xx}{statuses}{errors}",
    )
    if sessions is not None and sessions > 20:
        ctx.report.note(
            f"{what}, {result.connections} conns: {sessions} PostgreSQL sessions still open "
            "after the run (PostgreSQL's default max_connections is 100)"
        )


def _load(ctx: Context, url: str, what: str, *, database: bool = True) -> dict[int, LoadResult]:
    results = {}
    for connections in CONNECTIONS:
        results[connections] = closed_loop(
            url,
            secret=ctx.secret,
            connections=connections,
            seconds=ctx.cfg.seconds,
            first_update_id=ctx.update_ids(1),
            chats=CHATS,
        )
        _row(ctx, what, results[connections], ctx.dbs.connections() if database else None)
    return results


@dataclass(frozen=True)
class Variant:
    label: str
    server: str
    env: dict[str, str]
    bare_server: str  # the floor reference under the same server
    bare_settings: str | None
    bare_path: str


VARIANTS = (
    # The webhook's own ASGI accept server (production): uvicorn with uvloop and httptools,
    # group commit through an async PostgreSQL connection per process.
    Variant("accept server", "accept", {}, "bare-asgi", None, "/telegram/webhook/"),
    # The Django application under gunicorn's sync workers (one request at a time per process),
    # the webhook answered ahead of the middleware (channels/webhook_wsgi.py).
    Variant("gunicorn", "gunicorn", {}, "gunicorn", "bench.bare_settings", "/bench/bare/"),
    # Not run any more: Django under uvicorn (ASGI: sync views in threads), measured at 0.3-0.7x
    # the aiogram bot (docs/performance.md); it stays the embedded default's server only.
)


def run(ctx: Context) -> None:
    cfg = ctx.cfg
    say(
        f"\n(a) webhook durable accept: closed loop, {cfg.seconds:.0f} s per run, "
        f"{cfg.web_processes} server processes for Lifeline"
    )
    results: dict[str, dict[int, LoadResult]] = {}

    proc, port = start_reference_bot(ctx.api, ctx.secret)
    try:
        url = f"http://127.0.0.1:{port}/telegram/webhook/"
        warm_up(url, ctx.secret, 5, ctx.update_ids(10))
        results["aiogram"] = _load(
            ctx, url, "aiogram bot, in-memory FSM, 1 process", database=False
        )
    finally:
        stop(proc)

    for variant in VARIANTS:
        for kind, server, settings, path in (
            ("webhook", variant.server, None, ctx.webhook_path),
            ("bare", variant.bare_server, variant.bare_settings, variant.bare_path),
        ):
            ctx.dbs.fresh()
            proc, port = start_web(
                server,
                ctx.env,
                cfg.web_processes,
                settings=settings,
                extra_env=variant.env,
            )
            try:
                url = f"http://127.0.0.1:{port}{path}"
                warm_up(url, ctx.secret, 4 * cfg.web_processes, ctx.update_ids(10))
                label = "Lifeline webhook" if kind == "webhook" else "bare 1-INSERT app"
                results[f"{kind}-{variant.label}"] = _load(
                    ctx, url, f"{label}, {variant.label} x{cfg.web_processes}"
                )
            finally:
                stop(proc)
            if kind == "webhook":
                stored = sum(ctx.dbs.inbox_counts().values())
                answered = sum(
                    r.requests - r.non2xx for r in results[f"webhook-{variant.label}"].values()
                )
                ctx.report.note(
                    f"{variant.label}: {stored} updates in the inbox after {answered} 2xx "
                    f"answers and {4 * cfg.web_processes} of warm-up (requests still in flight "
                    "when a run ended are stored but not counted)"
                )

    for connections in CONNECTIONS:
        reference = results["aiogram"][connections].rps
        for variant in VARIANTS:
            webhook = results[f"webhook-{variant.label}"][connections]
            bare = results[f"bare-{variant.label}"][connections]
            ratio = webhook.rps / reference if reference else 0.0
            ctx.report.add(
                "a",
                f"webhook {variant.label} / aiogram bot, {connections} conns",
                f"{ratio:6.2f}x",
                ">= 2x the aiogram bot",
                ratio >= 2 and not webhook.non2xx and not webhook.errors,
            )
            floor = webhook.rps / bare.rps if bare.rps else 0.0
            ctx.report.add(
                "a",
                f"webhook {variant.label} / bare 1-INSERT app, {connections} conns",
                f"{floor:6.2f}x",
            )
    for variant in VARIANTS:
        rate_run(ctx, variant)


def rate_run(ctx: Context, variant: Variant) -> None:
    cfg = ctx.cfg
    count = int(cfg.rate_target * cfg.rate_seconds)
    say(
        f"\n(a) open loop: {cfg.rate_target} updates/s for {cfg.rate_seconds:.0f} s, "
        f"{variant.label}"
    )
    ctx.dbs.fresh()
    proc, port = start_web(variant.server, ctx.env, cfg.web_processes, extra_env=variant.env)
    try:
        url = f"http://127.0.0.1:{port}{ctx.webhook_path}"
        warm_up(url, ctx.secret, 4 * cfg.web_processes, ctx.update_ids(10))
        first = ctx.update_ids(count)

        def make(i: int) -> tuple[int, bytes]:
            return i, body(first + i, 720_000_000 + i % CHATS, "/start")

        result = open_loop(
            url,
            secret=ctx.secret,
            rate=cfg.rate_target,
            count=count,
            make=make,
            connections=256,
            timeout=30,
        )
    finally:
        stop(proc)
    achieved = len(result.ok) / result.seconds if result.seconds else 0.0
    p99 = result.latency(99)
    ctx.report.add(
        "a",
        f"Lifeline webhook at {cfg.rate_target}/s, {variant.label} x{cfg.web_processes}",
        f"p50 {ms(result.latency(50))}  p99 {ms(p99)}  2xx {achieved:.0f}/s  "
        f"non-2xx {result.non2xx}  no answer {result.errors}",
        "p99 <= 50 ms at 500 updates/s",
        p99 <= 0.050 and not result.non2xx and not result.errors,
    )
    if result.lag > 0.05:
        ctx.report.note(f"the load generator itself ran up to {ms(result.lag)} late")
