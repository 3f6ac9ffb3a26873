"""The figures: totals, a series by day, week or month, the funnel from first contact to
exchange, splits by channel and language, and average times — read from the rollups, so the
page costs the same at ten million events as at ten. Supervisors and the press office see
them (aggregates only, a few seconds behind); the charts are SVG drawn here, beside tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from lifeline.core.models import Role, User
from lifeline.core.parsing import clean_text
from lifeline.stats import figures

from ..decorators import role_required

#: The kinds the series shows, with their labels.
SERIES = [
    ("contact.new", _("First contacts")),
    ("message.in", _("Messages in")),
    ("case.applied", _("Applications")),
    ("call.received", _("Calls")),
    ("case.surrendered", _("Surrendered")),
]
TIMES = [
    ("call.answered", _("Seconds to answer a call")),
    ("call.ended", _("Seconds of a call")),
]
CHART_W, CHART_H = 600, 160


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


def _date(value: object, default: date) -> date:
    try:
        return date.fromisoformat(clean_text(value or "", max_length=10)) if value else default
    except ValueError:
        return default


@role_required(Role.SUPERVISOR, Role.PRESS)
@require_GET
def dashboard(request: HttpRequest, actor: User) -> HttpResponse:
    today = timezone.now().date()
    period = request.GET.get("period", "month")
    if period not in figures.PERIODS:
        period = "month"
    default_start = {"day": today - timedelta(days=30), "week": today - timedelta(weeks=12)}.get(
        period, today.replace(day=1) - timedelta(days=365)
    )
    earliest, latest = date(2000, 1, 1), today + timedelta(days=366)
    start = min(max(_date(request.GET.get("start"), default_start), earliest), latest)
    end = min(max(_date(request.GET.get("end"), today), earliest), latest)
    if start > end:
        start, end = end, start
    # At most about four hundred periods on one page.
    limit = {"day": timedelta(days=400), "week": timedelta(weeks=400)}.get(period)
    if limit is not None and end - start > limit:
        start = end - limit
    kinds = [kind for kind, _label in SERIES]
    series = figures.series(kinds, start, end, period)
    funnel = figures.funnel(start, end)
    return render(
        request,
        "console/figures/dashboard.html",
        {
            "period": period,
            "periods": [("day", _("Days")), ("week", _("Weeks")), ("month", _("Months"))],
            "start": start,
            "end": end,
            "series_labels": [label for _kind, label in SERIES],
            "series": [(when, [counts[k] for k in kinds]) for when, counts in series],
            "chart": bars([(when.isoformat(), counts["contact.new"]) for when, counts in series]),
            "funnel": funnel,
            "funnel_chart": bars([(str(label), count) for _kind, label, count in funnel]),
            "by_channel": figures.split("contact.new", "channel", start, end),
            "by_language": figures.split("contact.new", "language", start, end),
            "times": [(label, figures.mean(kind, start, end)) for kind, label in TIMES],
            "chart_w": CHART_W,
            "chart_h": CHART_H,
        },
    )
