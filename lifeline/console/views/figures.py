"""The figures: totals, a series by day, week or month, the funnel from first contact to
exchange, splits by channel, language and hour, average and median times — read from the
rollups, so the page costs the same at ten million events as at ten. Supervisors also see the
live work (applications waiting by age, operator figures); the press office sees aggregates
only. Every table exports as CSV or XLSX (audited); the charts are SVG drawn here, beside the
tables. Supervisors choose what the public figures page shows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from lifeline.audit.services import audit_record
from lifeline.cases import metrics as case_metrics
from lifeline.core.channels import Channel, Language
from lifeline.core.models import Role, User
from lifeline.core.parsing import clean_text
from lifeline.phone import metrics as operator_metrics
from lifeline.stats import figures
from lifeline.stats.models import PublishedFigure

from ..decorators import role_required

#: The kinds the series shows.
SERIES = ["contact.new", "message.in", "case.applied", "call.received", "case.surrendered"]
TIMES = [
    ("call.answered", _("Seconds to answer a call")),
    ("call.ended", _("Seconds of a call")),
]
#: Tables only supervisors see: live operational counts and people's work.
SUPERVISOR_TABLES = frozenset({"pending", "operators"})
CHART_W, CHART_H = 600, 160
EXPORT_ROWS = 5000


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


def bars(values: list[tuple[str, int]]) -> list[Bar]:
    """Bars for an SVG of CHART_W × CHART_H; the tallest fills the height."""
    if not values:
        return []
    top = max(value for _label, value in values) or 1
    width = CHART_W / len(values)
    out = []
    for i, (label, value) in enumerate(values):
        height = CHART_H * value / top
        out.append(Bar(i * width + 1, CHART_H - height, max(width - 2, 1), height, label, value))
    return out


Cell = str | int | float | None


@dataclass
class Table:
    """One table of the dashboard, as shown and as exported: the first cell of a row heads it."""

    name: str
    title: object
    headers: list[object]
    rows: list[list[Cell]] = field(default_factory=list)
    note: object = ""


@dataclass(frozen=True)
class Period:
    period: str
    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    def query(self) -> str:
        params = QueryDict(mutable=True)
        params.update({"period": self.period, "start": str(self.start), "end": str(self.end)})
        return params.urlencode()


def _date(value: object, default: date) -> date:
    try:
        return date.fromisoformat(clean_text(value or "", max_length=10)) if value else default
    except ValueError:
        return default


def period_from(query: QueryDict, latest: date | None = None) -> Period:
    """The period asked for, within bounds (dates 2000 … a year ahead, at most ~400 rows),
    ending by ``latest`` if given (the press: the public figures' cut-off, never today)."""
    today = timezone.now().date()
    if latest is not None:
        today = min(today, latest)
    period = query.get("period", "month")
    if period not in figures.PERIODS:
        period = "month"
    default_start = {"day": today - timedelta(days=30), "week": today - timedelta(weeks=12)}.get(
        period, today.replace(day=1) - timedelta(days=365)
    )
    earliest = date(2000, 1, 1)
    last = today if latest is not None else today + timedelta(days=366)
    start = min(max(_date(query.get("start"), default_start), earliest), last)
    end = min(max(_date(query.get("end"), today), earliest), last)
    if start > end:
        start, end = end, start
    limit = {"day": timedelta(days=400), "week": timedelta(weeks=400)}.get(period)
    if limit is not None and end - start > limit:
        start = end - limit
    return Period(period, start, end)


def _period_label(when: date, period: str) -> str:
    if period == "month":
        return when.strftime("%Y-%m")
    if period == "week":
        year, week, _day = when.isocalendar()
        return f"{year}-W{week:02d} ({when.isoformat()})"
    return when.isoformat()


def _key_label(by: str, key: str) -> str:
    """A channel or language by its name; a code we do not know (an old row) as it is."""
    choices = {"channel": Channel, "language": Language}.get(by)
    if not key:
        return "—"
    if choices is not None and key in choices.values:
        return str(choices(key).label)
    return key


def _seconds(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def tables(actor: User, p: Period, only: str | None = None) -> dict[str, Table]:
    """The dashboard's tables for this user (``only``: just that one, for an export)."""
    out: dict[str, Table] = {}

    def wanted(name: str) -> bool:
        if name in SUPERVISOR_TABLES and actor.role != Role.SUPERVISOR:
            return False
        return only is None or only == name

    count = _("Count")
    if wanted("funnel"):
        out["funnel"] = Table(
            "funnel",
            _("From first contact to exchange"),
            [_("Step"), count],
            [[str(label), n] for _kind, label, n in figures.funnel(p.start, p.end)],
        )
    if wanted("series"):
        out["series"] = Table(
            "series",
            _("Over time"),
            [_("Period"), *(figures.KINDS[kind] for kind in SERIES)],
            [
                [_period_label(when, p.period), *(counts[k] for k in SERIES)]
                for when, counts in figures.series(SERIES, p.start, p.end, p.period)
            ],
            _(
                "Weeks start on Monday; days are UTC days. The first and the last period count"
                " only the days from %(start)s to %(end)s."
            )
            % {"start": p.start.isoformat(), "end": p.end.isoformat()},
        )
    splits = [
        ("channels", "channel", _("First contacts by channel"), _("Channel")),
        ("languages", "language", _("First contacts by language"), _("Language")),
        ("hours", "hour", _("Messages by hour of the day (UTC)"), _("Hour")),
    ]
    for name, by, title, header in splits:
        if wanted(name):
            kind = "message.in" if by == "hour" else "contact.new"
            found = figures.split(kind, by, p.start, p.end)
            keys = [str(h) for h in range(24)] if by == "hour" else list(found)
            out[name] = Table(
                name,
                title,
                [header, count],
                [[_key_label(by, key), found.get(key, 0)] for key in keys],
            )
    if wanted("times"):
        out["times"] = Table(
            "times",
            _("Average times"),
            [_("What"), _("Seconds")],
            [[str(label), _seconds(figures.mean(kind, p.start, p.end))] for kind, label in TIMES],
        )
    if wanted("stages"):
        out["stages"] = Table(
            "stages",
            _("Median time between stages"),
            [_("Step"), _("Cases"), _("Median, hours")],
            [
                [
                    s.label,
                    s.cases,
                    round(s.median_seconds / 3600, 1) if s.median_seconds is not None else None,
                ]
                for s in case_metrics.stage_times(p.since, p.until)
            ],
            _("Over the cases that made the step in the period."),
        )
    if wanted("pending"):
        out["pending"] = Table(
            "pending",
            _("Applications waiting for verification, by age (now)"),
            [_("Waiting"), count],
            [[str(label), n] for label, n in case_metrics.pending_by_age(timezone.now())],
        )
    if wanted("operators"):
        team = operator_metrics.operator_figures(p.since, p.until)
        rows = [
            [
                f.name or gettext("Whole team"),
                f.conversations,
                _seconds(f.first_response_median),
                f.calls_answered,
                _seconds(f.answer_wait_mean),
            ]
            for f in [*team.operators, team.team]
        ]
        out["operators"] = Table(
            "operators",
            _("Operators"),
            [
                _("Operator"),
                _("Conversations"),
                _("First response, median seconds"),
                _("Calls answered"),
                _("Seconds to answer a call"),
            ],
            rows,
            _("Calls missed in the period: %(n)d") % {"n": team.calls_missed},
        )
    return out


def _latest(actor: User) -> date | None:
    """The last day this user's figures may count: the press sees no live operational count
    (an operation requested this week, say), only what the public figures' delay allows."""
    if actor.role == Role.SUPERVISOR:
        return None
    return figures.cutoff(timezone.now().date())


@role_required(Role.SUPERVISOR, Role.PRESS)
@require_GET
def dashboard(request: HttpRequest, actor: User) -> HttpResponse:
    latest = _latest(actor)
    p = period_from(request.GET, latest)
    found = tables(actor, p)
    series = found["series"].rows
    funnel = found["funnel"].rows
    public = figures.public_figures(timezone.now().date())
    return render(
        request,
        "console/figures/dashboard.html",
        {
            "period": p.period,
            "periods": [("day", _("Days")), ("week", _("Weeks")), ("month", _("Months"))],
            "start": p.start,
            "end": p.end,
            "query": p.query(),
            "tables": found,
            "series_chart": bars([(str(row[0]), int(row[1] or 0)) for row in series]),
            "funnel_chart": bars([(str(row[0]), int(row[1] or 0)) for row in funnel]),
            "chart_w": CHART_W,
            "chart_h": CHART_H,
            "public": public,
            "public_rows": figures.public_table(public).totals,
            "latest": latest,
        },
    )


@role_required(Role.SUPERVISOR, Role.PRESS)
@require_GET
def export(request: HttpRequest, actor: User, name: str, fmt: str) -> HttpResponse:
    """One table as CSV or XLSX, for the same period as the page; the export is audited."""
    if fmt not in ("csv", "xlsx"):
        raise Http404
    p = period_from(request.GET, _latest(actor))
    table = tables(actor, p, only=name).get(name)
    if table is None:
        raise Http404
    audit_record(
        actor=actor,
        action="figures.exported",
        object_type="figures",
        object_id=name,
        fields=[fmt, "start", "end", "period"],
    )
    filename = f"lifeline-{name}-{p.start}-{p.end}.{fmt}"
    if fmt == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response.write("\ufeff")  # spreadsheet programs then read the Cyrillic as UTF-8
        writer = csv.writer(response)
        for row in _lines(table):
            writer.writerow(["" if c is None else _cell_text(c) for c in row])
    else:
        response = HttpResponse(
            _xlsx(table),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _lines(table: Table) -> Iterable[list[Cell]]:
    yield [str(h) for h in table.headers]
    yield from table.rows[:EXPORT_ROWS]
    if table.note:
        yield [str(table.note)]


def _cell_text(value: str | int | float) -> str | int | float:
    """A cell a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _xlsx(table: Table) -> bytes:
    from openpyxl import Workbook  # only here: the export is rare

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # noqa: S101 - a new workbook always has one
    sheet.title = table.name
    for row in _lines(table):
        sheet.append([_cell_text(c) if c is not None else None for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def publication(request: HttpRequest, actor: User) -> HttpResponse:
    """What the public figures page shows: a supervisor ticks the kinds (audited)."""
    chosen = set(figures.published_kinds())
    if request.method == "POST":
        wanted = {kind for kind in request.POST.getlist("kind") if kind in figures.PUBLISHABLE}
        added, removed = sorted(wanted - chosen), sorted(chosen - wanted)
        with transaction.atomic():
            PublishedFigure.objects.filter(kind__in=removed).delete()
            PublishedFigure.objects.bulk_create(
                [PublishedFigure(kind=kind, published_by=actor) for kind in added]
            )
            if added or removed:
                audit_record(
                    actor=actor,
                    action="figures.published",
                    object_type="figures",
                    object_id="public",
                    fields=[*(f"+{k}" for k in added), *(f"-{k}" for k in removed)],
                )
        messages.success(request, gettext("The public figures page now shows what you chose."))
        return redirect("console:figures_publication")
    return render(
        request,
        "console/figures/publication.html",
        {
            "choices": [
                (kind, figures.KINDS[kind], kind in chosen) for kind in figures.PUBLISHABLE
            ],
            "until": figures.cutoff(timezone.now().date()),
        },
    )
