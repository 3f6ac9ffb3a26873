"""`make bench`: Lifeline's figures and their ratios against references run in the same run, on
the same machine. Nothing here fails the build: each figure is printed with its target and
PASS or MISS.

    make bench                      # everything (16-22 minutes on 2 cores)
    BENCH_QUICK=1 make bench        # shorter runs and smaller bursts (about 6 minutes)
    BENCH_PARTS=webhook,flow make bench

Parts (one module each): (a) ``webhook`` — durable accept vs the aiogram bot and a bare
one-INSERT view, uvicorn vs gunicorn; (b) ``flow`` — flow steps/s with 2 workers; (c)
``latency`` — webhook answer to first reply, sustained and burst; (d) resident memory of the
web and worker processes (sampled during b and c); (e) ``crypto`` — the cost of encryption;
(f) ``figures`` — the figures dashboard at ten million statistics events vs a naive GROUP BY over
them (``BENCH_EVENTS``; 1 million when quick); (g) ``search`` — exact search over a million
encrypted cases vs the same query on plaintext indexed columns, and the blind-index key
rotation over them (``BENCH_CASES``; 100,000 when quick).
Knobs: see ``bench/common.py`` (``Config``); ``BENCH_JSON=FILE`` writes the summary as JSON.
Needs PostgreSQL (the databases ``lifeline_bench_tpl`` and ``lifeline_bench`` are created and
dropped), Redis (the production cache) and, for closed-loop load, ``wrk`` (``apt-get install
wrk``; without it a slower Python load generator is used and said so). Without PostgreSQL or
Redis only (e) runs, and the summary says why. Logs of the child processes: ``var/bench/``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import flow, latency, webhook  # noqa: E402
from bench.common import PYTHON, ROOT, Config, Report, say, stop_all  # noqa: E402
from bench.context import Context  # noqa: E402
from bench.database import BenchDatabases, problem  # noqa: E402
from bench.load import wrk_path  # noqa: E402
from bench.servers import helper, lifeline_env, manage, start_fake_bot_api  # noqa: E402


def redis_problem(url: str) -> str | None:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 3) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(64).startswith(b"+PONG"):
                return "it did not answer PING"
    except OSError as exc:
        return str(exc)
    return None


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - the developer's git
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({model}), "
        f"Python {platform.python_version()}, commit {commit or '?'}"
        f"{' + uncommitted changes' if dirty else ''}"
    )


def crypto(cfg: Config, report: Report) -> None:
    say("\n(e) encryption micro-benchmark (SQLite in memory, test settings)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LIFELINE_"))}
    env.update(DJANGO_SETTINGS_MODULE="lifeline.settings.test", BENCH_ROWS=str(cfg.crypto_rows))
    out = subprocess.run(  # noqa: S603 - our own module
        [PYTHON, "-m", "bench.crypto"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=900,
        capture_output=True,
        text=True,
    ).stdout
    for line in out.splitlines():
        what, _, figure = line.partition("=")
        if figure:
            report.add("e", " ".join(what.split()), figure.strip())
        elif line.startswith("per case:"):
            report.add("e", "per case", " ".join(line.removeprefix("per case:").split()))
        else:
            say(f"  {line}")


FIGURES_DB = "lifeline_bench_figures"
SEARCH_DB = "lifeline_bench_search"


def own_database_part(cfg: Config, name: str, module: str, extra: dict[str, str]) -> list[str]:
    """Run ``python -m <module>`` against a fresh migrated PostgreSQL database of its own
    (dropped afterwards), with test settings and ``extra`` in its environment; its output."""
    import psycopg
    from psycopg import sql

    from bench.database import url_for

    def admin(statement: sql.Composed) -> None:
        with psycopg.connect(cfg.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    admin(drop)
    admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LIFELINE_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="lifeline.settings.test",
            DATABASE_URL=url_for(cfg.admin_url, name),
            **extra,
        )
        manage(env, "migrate", "--noinput", "-v", "0")
        return subprocess.run(  # noqa: S603 - our own module
            [PYTHON, "-m", module],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=3600,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    finally:
        admin(drop)


def figures_part(cfg: Config, report: Report) -> None:
    """(f) The dashboard at ten million events vs a naive GROUP BY (bench/figures.py)."""
    if why := problem(cfg.admin_url):
        report.note(f"SKIPPED (f) figures: it needs PostgreSQL ({cfg.admin_url}): {why}")
        return
    events = int(os.environ.get("BENCH_EVENTS", "1000000" if cfg.quick else "10000000"))
    say(f"\n(f) figures: {events:,} statistics events on PostgreSQL, dashboard vs GROUP BY")
    out = own_database_part(cfg, FIGURES_DB, "bench.figures", {"BENCH_EVENTS": str(events)})
    for line in out:
        what, _, figure = line.partition("=")
        what, figure = " ".join(what.split()), figure.strip()
        if not figure:
            say(f"  {line}")
        elif what.startswith("rollups vs naive"):
            ratio = float(figure.rstrip("x"))
            report.add("f", what, figure, target=">= 100x", ok=ratio >= 100)
        elif what.startswith("dashboard ") and "ms p50" in what:
            ms = float(figure.split("/")[0])
            report.add("f", what, figure, target="<= 100 ms", ok=ms <= 100)
        else:
            report.add("f", what, figure)


def search_part(cfg: Config, report: Report) -> None:
    """(g) Exact search over a million encrypted cases vs plaintext indexed columns, and the
    blind-index rotation over them (bench/search.py)."""
    if why := problem(cfg.admin_url):
        report.note(f"SKIPPED (g) search: it needs PostgreSQL ({cfg.admin_url}): {why}")
        return
    cases = int(os.environ.get("BENCH_CASES", "100000" if cfg.quick else "1000000"))
    say(f"\n(g) search: {cases:,} encrypted cases on PostgreSQL vs the same in clear")
    keystore = ROOT / "var" / "bench" / "keystore.sqlite3"
    keystore.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{keystore}{suffix}").unlink(missing_ok=True)
    extra = {"BENCH_CASES": str(cases), "LIFELINE_TEST_KEYSTORE": str(keystore)}
    try:
        out = own_database_part(cfg, SEARCH_DB, "bench.search", extra)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{keystore}{suffix}").unlink(missing_ok=True)
    for line in out:
        what, _, figure = line.partition("=")
        what, figure = " ".join(what.split()), figure.strip()
        if not figure:
            say(f"  {line}")
        elif "p95 ratio" in what:
            ratio = float(figure.rstrip("x"))
            report.add("g", what, figure, target="<= 1.5x", ok=ratio <= 1.5)
        elif "Lifeline p50/p95" in what:
            ms = float(figure.split("/")[1].split()[0])
            report.add("g", what, figure, target="p95 <= 20 ms", ok=ms <= 20)
        else:
            report.add("g", what, figure)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def write_json(path: str, report: Report, header: str) -> None:
    rows = [
        {
            "part": r.part,
            "what": r.what,
            "figure": r.figure,
            "target": r.target,
            "verdict": r.verdict,
        }
        for r in report.rows
    ]
    data = {"run": header, "rows": rows, "notes": report.notes}
    Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False))


def main() -> int:
    cfg = Config.from_env()
    report = Report()
    header = machine()
    say(f"Lifeline benchmark — {header}")
    say(f"mode: {'quick (BENCH_QUICK=1)' if cfg.quick else 'full'}; parts: {sorted(cfg.parts)}")
    say(
        f"load average before: {load_average()} (other work on this machine changes the "
        "figures; the ratios, measured side by side, less so)"
    )
    started = time.monotonic()
    try:
        if "crypto" in cfg.parts:
            crypto(cfg, report)
        live(cfg, report)
        if "figures" in cfg.parts:
            figures_part(cfg, report)
        if "search" in cfg.parts:
            search_part(cfg, report)
    finally:
        stop_all()
    say(f"\n===== summary ({time.monotonic() - started:.0f} s; {header}) =====")
    say(f"load average after: {load_average()}")
    say(report.render())
    if path := os.environ.get("BENCH_JSON"):
        write_json(path, report, header)
        say(f"(written to {path})")
    return 0


def live(cfg: Config, report: Report) -> None:
    """Parts (a) to (d), on PostgreSQL and Redis."""
    if not cfg.parts & {"webhook", "flow", "latency"}:
        return
    missing = []
    if why := problem(cfg.admin_url):
        missing.append(f"PostgreSQL ({cfg.admin_url}): {why}")
    if why := redis_problem(cfg.redis_url):
        missing.append(f"Redis ({cfg.redis_url}): {why}")
    if missing:
        report.note("SKIPPED the live parts (a-d): they need " + "; ".join(missing))
        return
    if not wrk_path():
        report.note(
            "wrk is not installed (apt-get install wrk) or BENCH_LOADGEN=python: closed-loop "
            "figures come from the slower Python load generator, not comparable with wrk's"
        )

    dbs = BenchDatabases(cfg.admin_url)
    atexit.register(dbs.drop_all)
    atexit.register(stop_all)
    api = start_fake_bot_api()
    env = lifeline_env(database_url=dbs.template_url, redis_url=cfg.redis_url, api_base=api.base)
    say("\nsetting up: database lifeline_bench_tpl (migrate), production settings, fresh keys")
    try:
        dbs.create_template()
        manage(env, "migrate", "--noinput", "-v", "0")
        path = helper(env, "path")
        env["DATABASE_URL"] = dbs.url
        if path["secret_in_path"]:
            report.note(
                "the webhook still has the secret in its path (/telegram/webhook/<secret>/)"
            )
        ctx = Context(
            cfg=cfg, report=report, dbs=dbs, env=env, api=api, webhook_path=str(path["path"])
        )
        if "webhook" in cfg.parts:
            webhook.run(ctx)
        if "flow" in cfg.parts:
            flow.run(ctx)
        if "latency" in cfg.parts:
            latency.run(ctx)
        latency.memory(ctx)
    finally:
        stop_all()
        dbs.drop_all()


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    sys.exit(main())
