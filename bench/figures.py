"""Part (f): the figures dashboard at ten million statistics events, against a naive GROUP BY
over the raw events, measured in the same run on the same PostgreSQL database.

Run by `make bench` (``python -m bench.figures`` alone, with DATABASE_URL naming a migrated,
empty PostgreSQL database). Steps:
1. fill BENCH_EVENTS events (10 million; 1 million with BENCH_QUICK) spread over two years,
   kinds weighted as on a real hotline (mostly messages), in SQL;
2. build the rollups with one GROUP BY each (what the worker's passes add up to), and check
   them against the worker: a further 50,000 events counted by ``rollups.rollup`` (its rate is
   printed) must give the same totals as the raw events;
3. time the whole dashboard (``console.views.figures.tables``, every table a supervisor sees,
   the live ones included) for the last twelve months by month and for two years by week; then
   its rollup-based figures (funnel, series, splits, averages) against the same figures
   computed by GROUP BY over the raw events; print both and the ratio.
Prints "what = figure" lines for bench/run.py.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from lifeline.console.views.figures import SERIES, TIMES, Period, tables  # noqa: E402
from lifeline.core.models import Role, User  # noqa: E402
from lifeline.stats import figures, rollups  # noqa: E402

N = int(os.environ.get("BENCH_EVENTS", "10000000"))
DAYS = 730
#: (kind, weight in 1000): mostly messages, as on the real line.
WEIGHTS = [
    ("message.in", 600),
    ("contact.new", 80),
    ("call.received", 70),
    ("call.answered", 55),
    ("call.ended", 55),
    ("call.missed", 15),
    ("case.applied", 40),
    ("case.verified", 25),
    ("case.rejected", 8),
    ("conversation.alert", 15),
    ("case.ready", 10),
    ("operation.requested", 8),
    ("case.operation", 7),
    ("operation.failed", 2),
    ("case.surrendered", 5),
    ("disposition.exchanged", 2),
    ("disposition.asylum", 1),
    ("exchange.recorded", 1),
    ("entry.site-home", 1),
]


def say(what: str, figure: str) -> None:
    print(f"{what} = {figure}", flush=True)


def execute(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []


def fill(count: int, *, rolled: bool, offset: int = 0, days: int = DAYS) -> None:
    """``count`` events spread over the last ``days`` days."""
    kinds = [kind for kind, weight in WEIGHTS for _ in range(weight)]
    assert len(kinds) == 1000  # noqa: S101 - the weights add up
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    execute(
        """
        INSERT INTO stats_statevent (kind, channel, language, hour, value, rolled)
        SELECT k.kind,
               (ARRAY['telegram', 'web', 'phone'])[1 + (i %% 3)],
               (ARRAY['ru', 'uk', 'en'])[1 + ((i / 3) %% 3)],
               %s + ((i * 7919) %% (%s * 24)) * interval '1 hour',
               CASE WHEN k.kind IN ('call.answered', 'call.ended') THEN (i %% 300) END,
               %s
        FROM generate_series(%s::bigint, %s::bigint) AS i,
             LATERAL (SELECT (%s::text[])[1 + ((i * 104729) %% 1000)] AS kind) AS k
        """,
        (start, days, rolled, offset + 1, offset + count, kinds),
    )


def build_rollups() -> None:
    execute(
        """
        INSERT INTO stats_statrollup (day, kind, channel, language, count, value_sum, value_count)
        SELECT (hour AT TIME ZONE 'UTC')::date, kind, channel, language,
               count(*), coalesce(sum(value), 0), count(value)
        FROM stats_statevent GROUP BY 1, 2, 3, 4
        """
    )
    execute(
        """
        INSERT INTO stats_statdaytotal (day, kind, count, value_sum, value_count)
        SELECT day, kind, sum(count), sum(value_sum), sum(value_count)
        FROM stats_statrollup GROUP BY 1, 2
        """
    )
    execute(
        """
        INSERT INTO stats_stathourrollup (day, kind, hour, count)
        SELECT (hour AT TIME ZONE 'UTC')::date, kind,
               extract(hour FROM hour AT TIME ZONE 'UTC')::int, count(*)
        FROM stats_statevent GROUP BY 1, 2, 3
        """
    )


def naive(p: Period) -> None:
    """The dashboard's rollup-based figures, computed from the raw events."""
    since, until = p.since, p.until
    where = "hour >= %s AND hour < %s"
    funnel = [kind for kind, _label in figures.FUNNEL]
    execute(
        f"SELECT kind, count(*) FROM stats_statevent WHERE kind = ANY(%s) AND {where} "  # noqa: S608
        "GROUP BY kind",
        (funnel, since, until),
    )
    execute(
        f"SELECT date_trunc(%s, hour AT TIME ZONE 'UTC'), kind, count(*) FROM stats_statevent "  # noqa: S608
        f"WHERE kind = ANY(%s) AND {where} GROUP BY 1, 2",
        (p.period, SERIES, since, until),
    )
    for column in ("channel", "language"):
        execute(
            f"SELECT {column}, count(*) FROM stats_statevent "  # noqa: S608
            f"WHERE kind = 'contact.new' AND {where} GROUP BY 1",
            (since, until),
        )
    execute(
        "SELECT extract(hour FROM hour AT TIME ZONE 'UTC'), count(*) FROM stats_statevent "  # noqa: S608
        f"WHERE kind = 'message.in' AND {where} GROUP BY 1",
        (since, until),
    )
    for kind, _label in TIMES:
        execute(
            f"SELECT avg(value) FROM stats_statevent WHERE kind = %s AND {where}",  # noqa: S608
            (kind, since, until),
        )


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm the caches first, as a page read twice would
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("the figures benchmark runs on PostgreSQL")
    started = time.perf_counter()
    fill(N, rolled=True)
    build_rollups()
    execute("VACUUM ANALYZE")  # as autovacuum would after such a load
    say("fill: events", f"{N:,}")
    say("fill: seconds (events and rollups, SQL)", f"{time.perf_counter() - started:.0f}")
    rows = execute("SELECT count(*) FROM stats_statrollup")[0][0]
    hour_rows = execute("SELECT count(*) FROM stats_stathourrollup")[0][0]
    say("rollup rows (daily / hour of day)", f"{rows:,} / {hour_rows:,}")

    extra = 50_000  # arriving now, as events do: spread over the last two days
    fill(extra, rolled=False, offset=N, days=2)
    start = time.perf_counter()
    counted = rollups.rollup_all()
    seconds = time.perf_counter() - start
    say("worker rollup rate, events/s", f"{counted / seconds:,.0f} ({counted:,} events)")
    by_rollup = figures.totals([kind for kind, _weight in WEIGHTS])
    raw: dict[str, int] = dict(execute("SELECT kind, count(*) FROM stats_statevent GROUP BY kind"))
    same = all(by_rollup[kind] == raw.get(kind, 0) for kind in by_rollup)
    say("rollups equal the raw counts", "yes" if same else f"NO: {by_rollup} vs {raw}")

    actor = User.objects.create_user(username="bench-supervisor", role=Role.SUPERVISOR)
    today = timezone.now().date()
    cases = [
        ("12 months by month", Period("month", today.replace(day=1) - timedelta(days=365), today)),
        ("2 years by week", Period("week", today - timedelta(days=DAYS), today)),
    ]
    runs = 5 if N <= 2_000_000 else 3
    from_rollup_tables = ["funnel", "series", "channels", "languages", "hours", "times"]

    def from_rollups(p: Period) -> None:
        for name in from_rollup_tables:
            tables(actor, p, only=name)

    for name, p in cases:
        whole = timed(partial(tables, actor, p), 20)
        fast = timed(partial(from_rollups, p), 20)
        slow = timed(partial(naive, p), runs)
        fast_ms, slow_ms = statistics.median(fast), statistics.median(slow)
        say(
            f"dashboard {name}, every table: ms p50 / max",
            f"{statistics.median(whole):.1f} / {max(whole):.1f}",
        )
        say(f"rollup figures {name}: ms p50", f"{fast_ms:.1f}")
        say(f"naive GROUP BY {name}: ms p50", f"{slow_ms:.0f}")
        say(f"rollups vs naive {name}: ratio", f"{slow_ms / fast_ms:.0f}x")


if __name__ == "__main__":
    main()
