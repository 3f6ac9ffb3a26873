"""Daily rollups of the statistics events, maintained incrementally by the worker.

Each pass takes up to ``limit`` events not yet counted (``rolled`` false; on PostgreSQL with
``SKIP LOCKED``, so several workers share the work), adds them to their ``StatRollup`` rows
(day, kind, channel, language), ``StatDayTotal`` rows (day, kind) and ``StatHourRollup`` rows
(day, kind, hour of the day) in a fixed key order, and marks them counted, all in one
transaction: an event is counted exactly once, whatever commits late or crashes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date
from typing import Any

from django.db import connection, models, transaction

from .models import StatDayTotal, StatEvent, StatHourRollup, StatRollup

BATCH = 5000

Amounts = list[int]  # count, value sum, value count


def rollup(limit: int = BATCH) -> int:
    """Count up to ``limit`` new events into the rollups; returns how many were counted."""
    with transaction.atomic():
        rows = list(
            StatEvent.objects.filter(rolled=False)
            .order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", "kind", "channel", "language", "hour", "value")[:limit]
        )
        if not rows:
            return 0
        days: dict[tuple[date, str, str, str], Amounts] = defaultdict(lambda: [0, 0, 0])
        totals: dict[tuple[date, str], Amounts] = defaultdict(lambda: [0, 0, 0])
        hours: dict[tuple[date, str, int], Amounts] = defaultdict(lambda: [0])
        for _id, kind, channel, language, hour, value in rows:
            at = hour.astimezone(UTC)
            day = at.date()
            for amounts in (days[(day, kind, channel, language)], totals[(day, kind)]):
                amounts[0] += 1
                if value is not None:
                    amounts[1] += value
                    amounts[2] += 1
            hours[(day, kind, at.hour)][0] += 1
        sums = ["count", "value_sum", "value_count"]
        _upsert(StatRollup, ["day", "kind", "channel", "language"], sums, days)
        _upsert(StatDayTotal, ["day", "kind"], sums, totals)
        _upsert(StatHourRollup, ["day", "kind", "hour"], ["count"], hours)
        StatEvent.objects.filter(id__in=[row[0] for row in rows]).update(rolled=True)
        return len(rows)


def _upsert(
    model: type[models.Model],
    keys: list[str],
    amounts: list[str],
    found: Mapping[tuple[Any, ...], Amounts],
) -> None:
    """Add ``found`` to the model's rows: one ``INSERT … ON CONFLICT DO UPDATE`` per key (as a
    batch), in one key order in every worker, so that two workers never deadlock. PostgreSQL
    and SQLite both read this statement the same way."""
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    columns = ", ".join(q(c) for c in [*keys, *amounts])
    marks = ", ".join(["%s"] * (len(keys) + len(amounts)))
    update = ", ".join(f"{q(a)} = {table}.{q(a)} + excluded.{q(a)}" for a in amounts)
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) "  # noqa: S608 - our own names
        f"ON CONFLICT ({', '.join(q(k) for k in keys)}) DO UPDATE SET {update}"
    )
    ordered = sorted(found.items(), key=lambda item: tuple(str(k) for k in item[0]))
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(*key, *values) for key, values in ordered])


def rollup_all() -> int:
    """Count every pending event (the backfill and the tests)."""
    total = 0
    while counted := rollup():
        total += counted
    return total
