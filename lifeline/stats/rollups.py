"""Daily rollups of the statistics events, maintained incrementally by the worker.

Each pass takes up to ``limit`` events not yet counted (``rolled`` false; on PostgreSQL with
``SKIP LOCKED``, so several workers share the work), adds them to their ``StatRollup`` rows
(day, hour, kind, channel, language) in a fixed key order, and marks them counted, all in one
transaction: an event is counted exactly once, whatever commits late or crashes."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC

from django.db import IntegrityError, transaction
from django.db.models import F

from .models import StatEvent, StatRollup

BATCH = 5000

Key = tuple[object, int, str, str, str]


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
        totals: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])
        for _id, kind, channel, language, hour, value in rows:
            at = hour.astimezone(UTC)
            total = totals[(at.date(), at.hour, kind, channel, language)]
            total[0] += 1
            if value is not None:
                total[1] += value
                total[2] += 1
        for key in sorted(totals, key=lambda k: (str(k[0]), *k[1:])):  # one order: no deadlock
            _add(key, *totals[key])
        StatEvent.objects.filter(id__in=[row[0] for row in rows]).update(rolled=True)
        return len(rows)


def _add(key: Key, count: int, value_sum: int, value_count: int) -> None:
    day, hour, kind, channel, language = key
    match = {"day": day, "hour": hour, "kind": kind, "channel": channel, "language": language}
    more = {
        "count": F("count") + count,
        "value_sum": F("value_sum") + value_sum,
        "value_count": F("value_count") + value_count,
    }
    if StatRollup.objects.filter(**match).update(**more):
        return
    try:
        with transaction.atomic():
            StatRollup.objects.create(
                **match, count=count, value_sum=value_sum, value_count=value_count
            )
    except IntegrityError:  # another worker created it a moment ago
        StatRollup.objects.filter(**match).update(**more)


def rollup_all() -> int:
    """Count every pending event (the backfill and the tests)."""
    total = 0
    while counted := rollup():
        total += counted
    return total
