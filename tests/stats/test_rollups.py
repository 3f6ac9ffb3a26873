"""The statistics rollups: every event counted exactly once into its day, kind, channel and
language (and its day, kind and hour of the day), with value sums for averages; several workers
share the work without doubling."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, connections
from django.db.models import Sum

from lifeline.stats import rollups
from lifeline.stats.models import StatDayTotal, StatEvent, StatHourRollup, StatRollup
from lifeline.stats.services import stat_record

pytestmark = pytest.mark.django_db


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, 17, tzinfo=UTC)


def test_events_are_counted_once_by_day_kind_channel_and_language() -> None:
    for _ in range(3):
        stat_record(kind="case.applied", channel="telegram", language="ru", at=_at(1, 9))
    stat_record(kind="case.applied", channel="web", language="uk", at=_at(1, 9))
    stat_record(kind="case.applied", channel="telegram", language="ru", at=_at(2, 23))
    stat_record(kind="call.answered", channel="phone", at=_at(1, 9), value=12)
    stat_record(kind="call.answered", channel="phone", at=_at(1, 9), value=30)
    stat_record(kind="call.answered", channel="phone", at=_at(1, 9))
    assert rollups.rollup_all() == 8
    assert rollups.rollup_all() == 0  # nothing counted twice
    rows = {
        (r.day.day, r.kind, r.channel, r.language): (r.count, r.value_sum, r.value_count)
        for r in StatRollup.objects.all()
    }
    assert rows == {
        (1, "case.applied", "telegram", "ru"): (3, 0, 0),
        (1, "case.applied", "web", "uk"): (1, 0, 0),
        (2, "case.applied", "telegram", "ru"): (1, 0, 0),
        (1, "call.answered", "phone", ""): (3, 42, 2),
    }
    day_totals = {
        (r.day.day, r.kind): (r.count, r.value_sum, r.value_count)
        for r in StatDayTotal.objects.all()
    }
    assert day_totals == {
        (1, "case.applied"): (4, 0, 0),
        (2, "case.applied"): (1, 0, 0),
        (1, "call.answered"): (3, 42, 2),
    }
    hours = {(r.day.day, r.kind, r.hour): r.count for r in StatHourRollup.objects.all()}
    assert hours == {
        (1, "case.applied", 9): 4,
        (2, "case.applied", 23): 1,
        (1, "call.answered", 9): 3,
    }
    # Later events add to the same rows.
    stat_record(kind="case.applied", channel="telegram", language="ru", at=_at(1, 9))
    assert rollups.rollup(limit=10) == 1
    row = StatRollup.objects.get(day=_at(1, 9).date(), kind="case.applied", channel="telegram")
    assert row.count == 4
    assert StatHourRollup.objects.get(day=_at(1, 9).date(), kind="case.applied").count == 5
    assert not StatEvent.objects.filter(rolled=False).exists()


def test_batches_are_bounded_and_add_up() -> None:
    StatEvent.objects.bulk_create(
        StatEvent(kind="message.in", channel="web", language="en", hour=_at(5, h % 24))
        for h in range(250)
    )
    assert rollups.rollup(limit=100) == 100
    assert rollups.rollup_all() == 150
    assert StatRollup.objects.aggregate(n=Sum("count"))["n"] == 250
    assert StatRollup.objects.count() == 1
    assert StatHourRollup.objects.count() == 24
    assert StatHourRollup.objects.aggregate(n=Sum("count"))["n"] == 250


@pytest.mark.django_db(transaction=True)  # the worker manages its own connections
def test_the_worker_keeps_the_rollups_up_to_date() -> None:
    from lifeline.channels import worker

    stat_record(kind="contact.new", channel="web", language="ru")
    worker.run(threading.Event(), once=True)
    assert StatRollup.objects.get().count == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_rolling_up_at_once_count_every_event_once() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent row locks need PostgreSQL")
    StatEvent.objects.bulk_create(
        StatEvent(kind="message.in", channel="telegram", language="ru", hour=_at(7, h % 3))
        for h in range(3000)
    )
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while rollups.rollup(limit=200):
                pass
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert StatRollup.objects.aggregate(n=Sum("count"))["n"] == 3000
    assert StatRollup.objects.get().count == 3000
    assert StatDayTotal.objects.get().count == 3000
    assert sorted(StatHourRollup.objects.values_list("hour", "count")) == [
        (0, 1000),
        (1, 1000),
        (2, 1000),
    ]
