"""Daily rollups of the statistics events, maintained incrementally by the worker.

Each pass takes up to ``limit`` events not yet counted (``rolled`` false; on PostgreSQL with
``SKIP LOCKED``, so several workers share the work), adds them to their ``StatRollup`` rows
(day, kind, channel, language) and ``StatHourRollup`` rows (day, kind, hour of the day) in a
fixed key order, and marks them counted, all in one transaction: an event is counted exactly
once, whatever commits late or crashes."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC

from django.db import IntegrityError, transaction
from django.db.models import F

from .models import StatEvent, StatHourRollup, StatRollup

BATCH = 5000

DayKey = tuple[str, str, str, str]  # day (ISO), kind, channel, language
HourKey = tuple[str, str, int]  # day (ISO), kind, hour


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
        days: dict[DayKey, list[int]] = defaultdict(lambda: [0, 0, 0])
        hours: dict[HourKey, int] = defaultdict(int)
        for _id, kind, channel, language, hour, value in rows:
            at = hour.astimezone(UTC)
            day = at.date().isoformat()
            total = days[(day, kind, channel, language)]
            total[0] += 1
            if value is not None:
                total[1] += value
                total[2] += 1
            hours[(day, kind, at.hour)] += 1
        for key in sorted(days):  # one order in every worker: no deadlock
            day, kind, channel, language = key
            count, value_sum, value_count = days[key]
            _add(
                StatRollup,
                {"day": day, "kind": kind, "channel": channel, "language": language},
                {"count": count, "value_sum": value_sum, "value_count": value_count},
            )
        for hour_key in sorted(hours):
            day, kind, at_hour = hour_key
            _add(
                StatHourRollup,
                {"day": day, "kind": kind, "hour": at_hour},
                {"count": hours[hour_key]},
            )
        StatEvent.objects.filter(id__in=[row[0] for row in rows]).update(rolled=True)
        return len(rows)


def _add(
    model: type[StatRollup] | type[StatHourRollup],
    match: dict[str, object],
    amounts: dict[str, int],
) -> None:
    more = {name: F(name) + amount for name, amount in amounts.items()}
    if model.objects.filter(**match).update(**more):
        return
    try:
        with transaction.atomic():
            model.objects.create(**match, **amounts)
    except IntegrityError:  # another worker created it a moment ago
        model.objects.filter(**match).update(**more)


def rollup_all() -> int:
    """Count every pending event (the backfill and the tests)."""
    total = 0
    while counted := rollup():
        total += counted
    return total
