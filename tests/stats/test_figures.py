"""Figures from the rollups, on a seeded scenario with known answers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lifeline.stats import figures, rollups
from lifeline.stats.services import stat_record

pytestmark = pytest.mark.django_db


def _seed() -> None:
    """Two months: 37 contacts (25 in January, 12 in February), 12 applications, 3 surrenders,
    1 exchange; calls answered after 10 and 20 seconds."""
    for n in range(37):
        month, day = (1, 1 + n % 28) if n < 25 else (2, 1 + n % 28)
        channel = ("telegram", "web", "phone")[n % 3]
        language = ("ru", "uk")[n % 2]
        at = datetime(2026, month, day, n % 24, tzinfo=UTC)
        stat_record(kind="contact.new", channel=channel, language=language, at=at)
    for n in range(12):
        at = datetime(2026, 1 + n // 8, 3 + n, 10, tzinfo=UTC)
        stat_record(kind="case.applied", channel="telegram", language="ru", at=at)
    for day in (5, 6, 20):
        stat_record(kind="case.surrendered", at=datetime(2026, 2, day, 12, tzinfo=UTC))
    stat_record(kind="disposition.exchanged", at=datetime(2026, 2, 25, 12, tzinfo=UTC))
    for seconds in (10, 20):
        stat_record(
            kind="call.answered",
            channel="phone",
            value=seconds,
            at=datetime(2026, 1, 9, 8, tzinfo=UTC),
        )
    rollups.rollup_all()


def test_totals_series_splits_and_funnel() -> None:
    _seed()
    assert figures.totals(["contact.new", "case.applied", "case.surrendered"]) == {
        "contact.new": 37,
        "case.applied": 12,
        "case.surrendered": 3,
    }
    months = figures.series(
        ["contact.new", "case.applied"], date(2026, 1, 1), date(2026, 3, 31), "month"
    )
    assert months == [
        (date(2026, 1, 1), {"contact.new": 25, "case.applied": 8}),
        (date(2026, 2, 1), {"contact.new": 12, "case.applied": 4}),
        (date(2026, 3, 1), {"contact.new": 0, "case.applied": 0}),
    ]
    weeks = figures.series(["case.surrendered"], date(2026, 2, 1), date(2026, 2, 28), "week")
    assert [(w.isoformat(), c["case.surrendered"]) for w, c in weeks] == [
        ("2026-01-26", 0),
        ("2026-02-02", 2),
        ("2026-02-09", 0),
        ("2026-02-16", 1),
        ("2026-02-23", 0),
    ]
    assert figures.split("contact.new", "channel") == {"phone": 12, "telegram": 13, "web": 12}
    assert figures.split("contact.new", "language") == {"ru": 19, "uk": 18}
    assert sum(figures.split("contact.new", "hour").values()) == 37
    assert figures.mean("call.answered") == 15.0
    assert figures.mean("call.missed") is None
    funnel = {kind: count for kind, _label, count in figures.funnel()}
    assert funnel["contact.new"] == 37
    assert funnel["case.applied"] == 12
    assert funnel["case.surrendered"] == 3
    assert funnel["disposition.exchanged"] == 1
    assert funnel["case.verified"] == 0
    # Only January.
    january = figures.totals(["contact.new"], date(2026, 1, 1), date(2026, 1, 31))
    assert january == {"contact.new": 25}


def test_small_counts_are_suppressed_for_the_public() -> None:
    assert str(figures.shown(3)) == "fewer than 10"
    assert figures.shown(3).suppressed
    assert str(figures.shown(0)) == "0"
    assert str(figures.shown(10)) == "10"
    assert str(figures.shown(12)) == "12"


def test_the_dashboard_shows_the_seeded_figures() -> None:
    import re

    from django.test import Client

    from tests.factories import Staff, login_verified

    _seed()
    staff = Staff()
    for user in (staff.supervisor, staff.press):
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        login_verified(client, user)
        page = client.get(
            "/console/figures/", {"start": "2026-01-01", "end": "2026-03-31", "period": "month"}
        ).content.decode()
        funnel = dict(re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td>', page))
        assert funnel["First contacts"] == "37"
        assert funnel["Applications"] == "12"
        assert funnel["Surrendered"] == "3"
        assert funnel["Exchanged"] == "1"
        assert funnel["Verified"] == "0"
        rows = re.findall(r'<tr><th scope="row">(2026-0\d-01)</th>((?:<td>\d+</td>)+)</tr>', page)
        assert [(day, re.findall(r"\d+", cells)[:3]) for day, cells in rows] == [
            ("2026-01-01", ["25", "0", "8"]),
            ("2026-02-01", ["12", "0", "4"]),
            ("2026-03-01", ["0", "0", "0"]),
        ]
        assert page.count("<rect ") == 7 + 3  # the funnel's bars and the months'
        assert "15.0" in page  # seconds to answer a call, on average


def test_the_dashboard_survives_odd_parameters() -> None:
    from django.test import Client

    from tests.factories import Staff, login_verified

    client = Client()
    login_verified(client, Staff().supervisor)
    for params in (
        {"start": "yesterday", "end": "\x00", "period": "year"},
        {"start": "0001-01-01", "end": "9999-12-31", "period": "day"},
        {"start": "2026-05-01", "end": "2026-01-01"},
        {"start": "9" * 40},
    ):
        assert client.get("/console/figures/", params).status_code == 200, params
