"""Figures read from the rollups (``StatRollup``): totals, series by day, week or month, splits
by channel, language and hour of the day, the funnel from first contact to exchange, and
averages of the events' values. Every query reads O(days) rows, never the raw events.

Counts below ``SUPPRESS_BELOW`` are shown to the public as "fewer than 10" (``shown``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from .models import StatRollup

#: From first contact to exchange: (statistics kind, label).
FUNNEL: list[tuple[str, object]] = [
    ("contact.new", _("First contacts")),
    ("case.applied", _("Applications")),
    ("case.verified", _("Verified")),
    ("conversation.alert", _("Wrote again from the front")),
    ("operation.requested", _("Operations requested")),
    ("case.surrendered", _("Surrendered")),
    ("disposition.exchanged", _("Exchanged")),
]

SUPPRESS_BELOW = 10
PERIODS = ("day", "week", "month")


def _rows(kinds: Iterable[str], start: date | None, end: date | None) -> QuerySet[StatRollup]:
    rows = StatRollup.objects.filter(kind__in=list(kinds))
    if start is not None:
        rows = rows.filter(day__gte=start)
    if end is not None:
        rows = rows.filter(day__lte=end)
    return rows


def totals(
    kinds: Iterable[str], start: date | None = None, end: date | None = None
) -> dict[str, int]:
    kinds = list(kinds)
    found = dict.fromkeys(kinds, 0)
    for kind, count in (
        _rows(kinds, start, end).values_list("kind").annotate(n=Sum("count")).order_by()
    ):
        found[kind] = int(count)
    return found


def bucket(day: date, period: str) -> date:
    """The first day of the day's week (Monday) or month."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def series(
    kinds: Iterable[str], start: date, end: date, period: str = "month"
) -> list[tuple[date, dict[str, int]]]:
    """One row per period from ``start`` to ``end`` (empty periods included), oldest first."""
    kinds = list(kinds)
    counts: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(kinds, 0))
    for day, kind, count in (
        _rows(kinds, start, end).values_list("day", "kind").annotate(n=Sum("count")).order_by()
    ):
        counts[bucket(day, period)][kind] += int(count)
    periods = []
    current = bucket(start, period)
    while current <= end:
        periods.append(
            (current, dict(counts[current]) if current in counts else dict.fromkeys(kinds, 0))
        )
        current = _next(current, period)
    return periods


def _next(current: date, period: str) -> date:
    if period == "day":
        return current + timedelta(days=1)
    if period == "week":
        return current + timedelta(days=7)
    return (current.replace(day=28) + timedelta(days=4)).replace(day=1)


def split(kind: str, by: str, start: date | None = None, end: date | None = None) -> dict[str, int]:
    """Counts of one kind by ``channel``, ``language`` or ``hour`` (of the day, UTC)."""
    if by not in ("channel", "language", "hour"):
        raise ValueError(by)
    found: dict[str, int] = {}
    for key, count in (
        _rows([kind], start, end).values_list(by).annotate(n=Sum("count")).order_by(by)
    ):
        found[str(key)] = int(count)
    return found


def mean(kind: str, start: date | None = None, end: date | None = None) -> float | None:
    """The average value of the kind's events that carry one (seconds to answer, say)."""
    sums = _rows([kind], start, end).aggregate(s=Sum("value_sum"), n=Sum("value_count"))
    return sums["s"] / sums["n"] if sums["n"] else None


@dataclass(frozen=True)
class Shown:
    """A count as the public sees it: the number, or "fewer than 10"."""

    count: int
    suppressed: bool

    def __str__(self) -> str:
        if self.suppressed:
            return str(_("fewer than %(n)d") % {"n": SUPPRESS_BELOW})
        return str(self.count)


def shown(count: int) -> Shown:
    return Shown(count, 0 < count < SUPPRESS_BELOW)


def funnel(start: date | None = None, end: date | None = None) -> list[tuple[str, object, int]]:
    found = totals([kind for kind, _label in FUNNEL], start, end)
    return [(kind, label, found[kind]) for kind, label in FUNNEL]
