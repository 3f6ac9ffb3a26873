"""Figures from the rollups, on a seeded scenario with known answers: the dashboard's tables,
the supervisors' live tables (applications waiting by age, operator figures, median times
between stages), both exports, and the public page with its suppressed counts and delay."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from lifeline.core.models import Role
from lifeline.stats import figures, rollups
from lifeline.stats.figures import Shown
from lifeline.stats.services import stat_record

pytestmark = pytest.mark.django_db


def _seed() -> None:
    """Two months: 37 contacts (25 in January, 12 in February), 12 applications, 3 surrenders,
    1 exchange; calls answered after 10 and 20 seconds; five messages in January (two at 9 h,
    one each at 0, 14 and 23 h)."""
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
    for day, hour in ((4, 9), (5, 9), (6, 14), (7, 23), (8, 0)):  # five messages in January
        stat_record(kind="message.in", channel="web", language="ru", at=_at(1, day, hour))
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
    assert str(figures.shown(0)) == "fewer than 10"  # a zero would give the others away
    assert str(figures.shown(9)) == "fewer than 10"
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
        rows = re.findall(r'<tr><th scope="row">(2026-0\d)</th>((?:<td>\d+</td>)+)</tr>', page)
        assert [(day, re.findall(r"\d+", cells)[:3]) for day, cells in rows] == [
            ("2026-01", ["25", "5", "8"]),
            ("2026-02", ["12", "0", "4"]),
            ("2026-03", ["0", "0", "0"]),
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


def _at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def _seed_work() -> dict[str, Any]:
    """The rows behind the supervisors' live tables, with times set by hand:
    - conversations: c1 asked at 10:00, the bot answered, anna answered at 10:02 (first
      response 120 s: from the last message, the bot having answered it), boris later; c2
      asked at 09:00 and 09:05, anna answered at 09:06 (360 s: from the first unanswered);
      c3 asked at 12:00, boris answered at 12:10 (600 s); c4 went through the bot (11:00,
      bot 11:00:01), then wrote at 11:01 and 11:03, boris answered at 11:05 (240 s); a bot
      message counts for nobody;
    - calls: anna answered after 10 s, boris after 20 s, one missed;
    - cases: A applied 1 Feb, verified +24 h, ready +48 h, operation +6 h, surrendered +2 h;
      B applied 10 Feb, verified +12 h; four applications waiting: 2 h, 2 days (two), 10 days.
    The statistics events these services record (at today's date) are dropped: the scenario's
    events are the ones ``_seed`` records."""
    from lifeline.cases.models import CaseEvent
    from lifeline.conversations.models import Message
    from lifeline.phone.models import Call
    from lifeline.stats.models import StatEvent
    from tests.factories import Staff, advance, create_case, create_user, telegram_conversation

    staff = Staff()
    anna = create_user(Role.OPERATOR, username="anna")
    boris = create_user(Role.OPERATOR, username="boris")

    def message(conversation: Any, direction: str, at: datetime, sender: Any = None) -> None:
        m = Message.objects.create(
            conversation=conversation, direction=direction, text="…", sender=sender
        )
        Message.objects.filter(pk=m.pk).update(created_at=at)

    c1, c2, c3, c4 = (telegram_conversation(f"9000{n}") for n in range(4))
    message(c1, "in", _at(1, 10, 10))
    message(c1, "out", _at(1, 10, 10, 0, 5))  # the bot
    message(c1, "out", _at(1, 10, 10, 2), anna)
    message(c1, "in", _at(1, 10, 10, 30))
    message(c1, "out", _at(1, 10, 11), boris)
    message(c2, "in", _at(2, 3, 9))
    message(c2, "in", _at(2, 3, 9, 5))
    message(c2, "out", _at(2, 3, 9, 6), anna)
    message(c3, "in", _at(1, 20, 12))
    message(c3, "out", _at(1, 20, 12, 10), boris)
    message(c4, "in", _at(1, 12, 11))
    message(c4, "out", _at(1, 12, 11, 0, 1))  # the bot
    message(c4, "in", _at(1, 12, 11, 1))
    message(c4, "in", _at(1, 12, 11, 3))
    message(c4, "out", _at(1, 12, 11, 5), boris)
    for n, (ringing, wait, who) in enumerate(
        [(_at(1, 9, 8), 10, anna), (_at(1, 9, 8, 30), 20, boris), (_at(1, 15, 8), None, None)]
    ):
        Call.objects.create(
            call_id=f"seed-{n}",
            pbx="test",
            caller="+380000000000",
            ringing_at=ringing,
            answered_at=ringing + timedelta(seconds=wait) if wait else None,
            answered_by=who,
            status="ended" if wait else "missed",
        )
    a, b = create_case(), create_case()
    advance(a, "surrendered", staff)
    advance(b, "verified", staff)
    times = {
        a: [("applied", _at(2, 1, 0)), ("verified", _at(2, 2, 0)), ("ready", _at(2, 4, 0))]
        + [("operation", _at(2, 4, 6)), ("surrendered", _at(2, 4, 8))],
        b: [("applied", _at(2, 10, 0)), ("verified", _at(2, 10, 12))],
    }
    for case, steps in times.items():
        for status, at in steps:
            CaseEvent.objects.filter(case=case, to_status=status).update(created_at=at)
    now = timezone.now()
    for age in (timedelta(hours=2), timedelta(days=2), timedelta(days=2), timedelta(days=10)):
        waiting = create_case()
        type(waiting).objects.filter(pk=waiting.pk).update(created_at=now - age)
    StatEvent.objects.all().delete()
    return {"staff": staff, "anna": anna, "boris": boris}


PERIOD = {"start": "2026-01-01", "end": "2026-03-31", "period": "month"}


def test_operator_figures_pending_applications_and_stage_times() -> None:
    from lifeline.cases import metrics as case_metrics
    from lifeline.phone import metrics as operator_metrics

    _seed_work()
    team = operator_metrics.operator_figures(_at(1, 1, 0), _at(4, 1, 0))
    rows = {
        f.name: (f.conversations, f.first_response_median, f.calls_answered, f.answer_wait_mean)
        for f in team.operators
    }
    assert rows == {"anna": (2, 240.0, 1, 10.0), "boris": (3, 420.0, 1, 20.0)}
    assert (team.team.conversations, team.team.first_response_median) == (4, 300.0)
    assert (team.team.calls_answered, team.team.answer_wait_mean, team.calls_missed) == (
        2,
        15.0,
        1,
    )
    # Only February: anna's answer to c2, no call.
    february = operator_metrics.operator_figures(_at(2, 1, 0), _at(3, 1, 0))
    assert [(f.name, f.conversations, f.first_responses) for f in february.operators] == [
        ("anna", 1, [360.0])
    ]
    assert [n for _label, n in case_metrics.pending_by_age(timezone.now())] == [1, 2, 0, 1, 0]
    stages = case_metrics.stage_times(_at(1, 1, 0), _at(4, 1, 0))
    assert [(s.start, s.end, s.cases, s.median_seconds) for s in stages] == [
        ("applied", "verified", 2, 18 * 3600.0),
        ("verified", "ready", 1, 48 * 3600.0),
        ("ready", "operation", 1, 6 * 3600.0),
        ("operation", "surrendered", 1, 2 * 3600.0),
    ]


def _client(user: Any) -> Any:
    from django.test import Client

    from tests.factories import login_verified

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, user)
    return client


def _table(page: str, name: str) -> list[list[str]]:
    body = page.split(f'id="{name}"', 1)[1].split("</table>", 1)[0]
    return [
        [html.unescape(c) for c in re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_every_table_of_the_dashboard_for_a_supervisor() -> None:
    work = _seed_work()
    _seed()
    page = _client(work["staff"].supervisor).get("/console/figures/", PERIOD).content.decode()
    assert _table(page, "funnel") == [
        ["Step", "Count"],
        ["First contacts", "37"],
        ["Applications", "12"],
        ["Verified", "0"],
        ["Wrote again from the front", "0"],
        ["Operations requested", "0"],
        ["Surrendered", "3"],
        ["Exchanged", "1"],
    ]
    assert _table(page, "series")[1:] == [
        ["2026-01", "25", "5", "8", "0", "0"],
        ["2026-02", "12", "0", "4", "0", "3"],
        ["2026-03", "0", "0", "0", "0", "0"],
    ]
    channels = [["Phone", "12"], ["Telegram", "13"], ["Web chat", "12"]]
    assert _table(page, "channels")[1:] == channels
    assert _table(page, "languages")[1:] == [["Русский", "19"], ["Українська", "18"]]
    hours = {"0": "1", "9": "2", "14": "1", "23": "1"}
    assert _table(page, "hours")[1:] == [[str(h), hours.get(str(h), "0")] for h in range(24)]
    assert _table(page, "times")[1:] == [
        ["Seconds to answer a call", "15.0"],
        ["Seconds of a call", "—"],
    ]
    assert _table(page, "stages")[1:] == [
        ["Applied → Verified", "2", "18.0"],
        ["Verified → Ready", "1", "48.0"],
        ["Ready → In operation", "1", "6.0"],
        ["In operation → Surrendered", "1", "2.0"],
    ]
    assert _table(page, "pending")[1:] == [
        ["under a day", "1"],
        ["1 to 3 days", "2"],
        ["3 to 7 days", "0"],
        ["7 to 30 days", "1"],
        ["over 30 days", "0"],
    ]
    assert _table(page, "operators") == [
        [
            "Operator",
            "Conversations",
            "First response, median seconds",
            "Calls answered",
            "Seconds to answer a call",
        ],
        ["anna", "2", "240.0", "1", "10.0"],
        ["boris", "3", "420.0", "1", "20.0"],
        ["Whole team", "4", "300.0", "2", "15.0"],
    ]
    assert "Calls missed in the period: 1" in page


def test_the_press_sees_aggregates_but_no_live_work() -> None:
    work = _seed_work()
    _seed()
    client = _client(work["staff"].press)
    page = client.get("/console/figures/", PERIOD).content.decode()
    assert 'id="funnel"' in page
    assert 'id="pending"' not in page
    assert 'id="operators"' not in page
    assert "anna" not in page
    for name in ("pending", "operators"):
        assert client.get(f"/console/figures/export/{name}.csv", PERIOD).status_code == 404
    assert client.get("/console/figures/publication/").status_code == 403


def test_the_press_never_sees_this_weeks_live_counts() -> None:
    """An operation requested today shows for a supervisor at once; the press's figures end
    where the public figures do (the end of the previous week), whatever period is asked."""
    from tests.factories import Staff

    staff = Staff()
    stat_record(kind="operation.requested", channel="telegram", language="ru")
    rollups.rollup_all()
    today = timezone.now().date()
    asked = {"period": "day", "start": str(today), "end": str(today + timedelta(days=30))}
    supervisor = _client(staff.supervisor).get("/console/figures/", asked).content.decode()
    assert ["Operations requested", "1"] in _table(supervisor, "funnel")
    assert 'id="figures-latest"' not in supervisor
    press = _client(staff.press)
    page = press.get("/console/figures/", asked).content.decode()
    assert ["Operations requested", "0"] in _table(page, "funnel")
    cutoff = figures.cutoff(today)
    assert f'max="{cutoff}"' in page
    assert 'id="figures-latest"' in page
    series = _table(page, "series")
    assert series[-1][0] == str(cutoff)  # the last day shown is the cut-off
    for fmt in ("csv", "xlsx"):
        response = press.get(f"/console/figures/export/funnel.{fmt}", asked)
        assert response.status_code == 200
        assert f"lifeline-funnel-{cutoff}-{cutoff}.{fmt}" in response["Content-Disposition"]
    exported = press.get("/console/figures/export/funnel.csv", asked).content.decode("utf-8-sig")
    assert "Operations requested,0" in exported
    # The stage medians the press may export end there too.
    stages = press.get("/console/figures/export/stages.csv", asked)
    assert f"lifeline-stages-{cutoff}-{cutoff}.csv" in stages["Content-Disposition"]


def test_both_exports_hold_the_table_exactly_and_are_audited() -> None:
    from openpyxl import load_workbook

    from lifeline.audit.models import AuditEntry

    work = _seed_work()
    _seed()
    client = _client(work["staff"].supervisor)
    response = client.get("/console/figures/export/funnel.csv", PERIOD)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "lifeline-funnel-2026-01-01-2026-03-31.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        ["Step", "Count"],
        ["First contacts", "37"],
        ["Applications", "12"],
        ["Verified", "0"],
        ["Wrote again from the front", "0"],
        ["Operations requested", "0"],
        ["Surrendered", "3"],
        ["Exchanged", "1"],
    ]
    response = client.get("/console/figures/export/operators.xlsx", PERIOD)
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    sheet = book["operators"]
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        [
            "Operator",
            "Conversations",
            "First response, median seconds",
            "Calls answered",
            "Seconds to answer a call",
        ],
        ["anna", 2, 240.0, 1, 10.0],
        ["boris", 3, 420.0, 1, 20.0],
        ["Whole team", 4, 300.0, 2, 15.0],
        ["Calls missed in the period: 1", None, None, None, None],
    ]
    response = client.get("/console/figures/export/series.xlsx", PERIOD)
    sheet = load_workbook(io.BytesIO(response.content))["series"]
    assert [list(row) for row in sheet.iter_rows(values_only=True)][1:] == [
        ["2026-01", 25, 5, 8, 0, 0],
        ["2026-02", 12, 0, 4, 0, 3],
        ["2026-03", 0, 0, 0, 0, 0],
        [
            "Weeks start on Monday; days are UTC days. The first and the last period count only"
            " the days from 2026-01-01 to 2026-03-31.",
            *[None] * 5,
        ],
    ]
    exported = list(
        AuditEntry.objects.filter(action="figures.exported").values_list("object_id", "fields")
    )
    assert [object_id for object_id, _fields in exported] == ["funnel", "operators", "series"]
    assert [sorted(fields) for _id, fields in exported] == [
        ["csv", "end", "period", "start"],
        ["end", "period", "start", "xlsx"],
        ["end", "period", "start", "xlsx"],
    ]
    for bad in ("nope.csv", "funnel.pdf", "funnel.CSV", "..%2Fetc.csv"):
        assert client.get(f"/console/figures/export/{bad}", PERIOD).status_code == 404, bad


def _publish(client: Any, *kinds: str) -> None:
    response = client.post("/console/figures/publication/", {"kind": list(kinds)})
    assert response.status_code == 302


def test_the_public_page_shows_what_a_supervisor_published_with_small_counts_hidden() -> None:
    from django.test import Client

    from lifeline.audit.models import AuditEntry
    from tests.factories import Staff

    _seed()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert "No figures are published yet." in client.get("/figures/").content.decode()
    supervisor = _client(Staff().supervisor)
    _publish(supervisor, "contact.new", "case.applied", "case.surrendered", "disposition.exchanged")
    _publish(supervisor, "contact.new", "case.applied", "case.surrendered", "nope")
    entries = AuditEntry.objects.filter(action="figures.published").order_by("seq")
    assert [e.fields for e in entries] == [
        ["+case.applied", "+case.surrendered", "+contact.new", "+disposition.exchanged"],
        ["-disposition.exchanged"],
    ]
    # Today's events are after the cutoff: they are not published.
    stat_record(kind="contact.new", channel="web", language="ru")
    rollups.rollup_all()
    page = client.get("/figures/").content.decode()
    assert _table(page, "totals") == [
        ["First contacts", "37"],
        ["Applications", "12"],
        ["Surrendered", "fewer than 10"],
    ]
    months = _table(page, "months")
    assert months[0] == ["Month", "First contacts", "Applications", "Surrendered"]
    # (January's 25 and February's 12 are withheld: with either shown, 37 minus what is shown
    # would say that the later months, "fewer than 10", hide at most 2 between them.)
    assert months[-2:] == [
        ["February 2026", "withheld", "fewer than 10", "fewer than 10"],
        ["January 2026", "withheld", "fewer than 10", "fewer than 10"],
    ]
    assert all(row[1:] == ["fewer than 10"] * 3 for row in months[1:-2])  # later months: none
    assert "Exchanged" not in page
    assert "fewer than 10" in Client(HTTP_ACCEPT_LANGUAGE="en").get("/figures/").content.decode()
    for language, words in (("ru", "меньше 10"), ("uk", "менше 10")):
        assert words in Client(HTTP_ACCEPT_LANGUAGE=language).get("/figures/").content.decode()


def test_the_cutoff_is_the_end_of_the_previous_week_and_the_delay_is_configurable() -> None:
    from django.test import override_settings

    monday, sunday = date(2026, 11, 23), date(2026, 11, 22)
    assert figures.cutoff(monday) == sunday
    assert figures.cutoff(sunday) == date(2026, 11, 15)  # the week is not over yet
    assert figures.cutoff(monday, 2) == date(2026, 11, 8)
    with override_settings(LIFELINE_FIGURES_DELAY_WEEKS=1):
        assert figures.cutoff(monday) == date(2026, 11, 15)
    # Whole months only: the end of the last month that is over by the week's end.
    assert figures.cutoff(monday, whole_months=True) == date(2026, 10, 31)
    assert figures.cutoff(date(2026, 11, 2), whole_months=True) == date(2026, 10, 31)
    assert figures.cutoff(date(2026, 11, 1), whole_months=True) == date(2026, 9, 30)
    with override_settings(LIFELINE_FIGURES_WHOLE_MONTHS=True):
        assert figures.cutoff(monday) == date(2026, 10, 31)


def test_the_public_page_is_cached_until_the_publication_changes() -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tests.factories import Staff

    _seed()
    _publish(_client(Staff().supervisor), "contact.new")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.get("/figures/")
    with CaptureQueriesContext(connection) as queries:
        assert "37" in client.get("/figures/").content.decode()
    read = [q["sql"] for q in queries.captured_queries if "stats_statrollup" in q["sql"]]
    assert read == []  # the figures came from the cache


def test_figures_with_events_not_yet_counted_are_cached_only_briefly(monkeypatch: Any) -> None:
    """Just after midnight on Monday, Sunday's last events may still wait for the worker: the
    page is then cached for a minute, not an hour."""
    from django.core.cache import cache

    from tests.factories import Staff

    _publish(_client(Staff().supervisor), "contact.new")
    today = timezone.now().date()
    sunday = figures.cutoff(today)
    stat_record(kind="contact.new", channel="web", language="ru", at=_noon(sunday))
    timeouts: list[int] = []
    original = cache.set

    def spy(key: str, value: Any, timeout: int) -> None:
        timeouts.append(timeout)
        original(key, value, timeout)

    monkeypatch.setattr(cache, "set", spy)
    cache.clear()
    assert figures.public_figures(today).totals["contact.new"] == 0  # not counted yet
    rollups.rollup_all()
    cache.clear()
    assert figures.public_figures(today).totals["contact.new"] == 1
    assert timeouts == [figures.UNCOUNTED_CACHE_SECONDS, figures.CACHE_SECONDS]


def _noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def test_a_hidden_month_cannot_be_worked_out_from_the_total() -> None:
    def strings(total: int, parts: list[int]) -> tuple[str, list[str]]:
        head, cells = figures.shown_column(total, parts)
        return str(head), [str(c) for c in cells]

    f, w = "fewer than 10", "withheld"
    # One small month beside large ones: the smallest large one is withheld too.
    assert strings(45, [25, 15, 5]) == ("45", ["25", w, f])
    # Small months hiding 9 between them: each could still be anything from 0 to 9.
    assert strings(39, [30, 3, 2, 4]) == ("39", ["30", f, f, f])
    assert strings(42, [30, 3, 2, 7]) == ("42", ["30", f, f, f])
    # Two small months hiding 18: both would be 9, so a large one is withheld.
    assert strings(48, [30, 9, 9]) == ("48", [w, f, f])
    assert strings(58, [9, 9, 40]) == ("58", [f, f, w])
    # A withheld 10 beside a small 0 would tell that the small one is 0: the 25 goes too.
    assert strings(35, [25, 10, 0]) == ("35", [w, w, f])
    assert strings(56, [30, 18, 3, 2, 3]) == ("56", ["30", w, f, f, f])
    # When no choice of months protects the small one, the total is withheld as well.
    assert strings(15, [10, 5]) == (w, [w, f])
    # Nothing small: nothing withheld; a small total: nothing to protect beyond it.
    assert strings(37, [25, 12]) == ("37", ["25", "12"])
    assert strings(5, [3, 2]) == (f, [f, f])


def _readings(total: Shown, cells: list[Shown]) -> list[set[int]]:
    """Every value each small cell can take for a reader who knows the rules: a small cell
    0-9, a withheld one 10 or more, the shown ones and the total (if shown) as they are. For
    each cell, the sums the other cells can reach are worked out one cell at a time."""
    limit = 60 if total.hidden else total.count
    options = [
        [c.count] if not c.hidden else (range(10) if c.suppressed else range(10, limit + 1))
        for c in cells
    ]
    seen: list[set[int]] = []
    for i in range(len(cells)):
        sums = {0}
        for j, values in enumerate(options):
            if j != i:
                sums = {a + b for a in sums for b in values if a + b <= limit}
        seen.append({v for v in options[i] if total.hidden or (total.count - v) in sums})
    return seen


def test_no_small_month_can_be_narrowed_down_from_what_is_shown() -> None:
    """Every column of two or three months of 0 to 30 (four: in steps of 3): whatever is
    shown, a reader who works through every combination can still put each "fewer than 10"
    anywhere from 0 to 9."""
    from itertools import product

    checked = 0
    for size in (2, 3, 4):
        for parts in product(range(0, 31, 3) if size == 4 else range(31), repeat=size):
            if size == 4 and len(set(parts)) < 3:
                continue
            head, cells = figures.shown_column(sum(parts), list(parts))
            if not any(c.suppressed for c in cells) or head.suppressed:
                continue
            readings = _readings(head, cells)
            for cell, seen in zip(cells, readings, strict=True):
                if cell.suppressed:
                    assert seen == set(range(10)), (parts, [str(c) for c in cells])
            checked += 1
    assert checked > 1000
