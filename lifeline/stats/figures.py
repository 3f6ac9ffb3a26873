"""Figures read from the rollups (``StatDayTotal``, ``StatRollup``, ``StatHourRollup``):
totals, series by day, week or month, splits by channel, language and hour of the day, the
funnel from first contact to exchange, and averages of the events' values. Every query reads
O(days) rows, never the raw events.

Counts below ``SUPPRESS_BELOW`` are shown to the public as "fewer than 10" (``shown``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, DateField, F, Max, Min, QuerySet, Sum
from django.db.models.functions import Trunc
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import PublishedFigure, StatDayTotal, StatEvent, StatHourRollup, StatRollup

#: Every kind the figures name, with its label (exports and the publication choice use them).
KINDS: dict[str, object] = {
    "contact.new": pgettext_lazy("figures", "First contacts"),
    "message.in": pgettext_lazy("figures", "Messages in"),
    "call.received": pgettext_lazy("figures", "Calls"),
    "call.answered": pgettext_lazy("figures", "Calls answered"),
    "call.missed": pgettext_lazy("figures", "Calls missed"),
    "call.ended": pgettext_lazy("figures", "Calls ended"),
    "case.applied": pgettext_lazy("figures", "Applications"),
    "case.verified": pgettext_lazy("figures", "Verified"),
    "case.rejected": pgettext_lazy("figures", "Rejected"),
    "conversation.alert": pgettext_lazy("figures", "Wrote again from the front"),
    "case.ready": pgettext_lazy("figures", "Ready to go (stage 2)"),
    "operation.requested": pgettext_lazy("figures", "Operations requested"),
    "case.operation": pgettext_lazy("figures", "Operations approved"),
    "operation.failed": pgettext_lazy("figures", "Operations failed"),
    "case.surrendered": pgettext_lazy("figures", "Surrendered"),
    "disposition.exchanged": pgettext_lazy("figures", "Exchanged"),
    "disposition.awaiting_exchange": pgettext_lazy("figures", "Awaiting exchange"),
    "disposition.detained": pgettext_lazy("figures", "Stay in detention"),
    "disposition.asylum": pgettext_lazy("figures", "Asylum"),
    "disposition.emigrated": pgettext_lazy("figures", "Emigrated"),
    "disposition.returned_home": pgettext_lazy("figures", "Returned home"),
    "exchange.recorded": pgettext_lazy("figures", "Exchanges"),
}

#: From first contact to exchange: (statistics kind, label).
FUNNEL: list[tuple[str, object]] = [
    (kind, KINDS[kind])
    for kind in (
        "contact.new",
        "case.applied",
        "case.verified",
        "conversation.alert",
        "operation.requested",
        "case.surrendered",
        "disposition.exchanged",
    )
]

#: What a supervisor may choose to publish on the public figures page, in the page's order.
PUBLISHABLE = (
    "call.received",
    "message.in",
    "contact.new",
    "case.applied",
    "case.surrendered",
    "disposition.exchanged",
    "disposition.asylum",
    "exchange.recorded",
)

SUPPRESS_BELOW = 10
PERIODS = ("day", "week", "month")


def _rows(kinds: Iterable[str], start: date | None, end: date | None) -> QuerySet[StatDayTotal]:
    """Day totals (all channels and languages) of these kinds."""
    rows = StatDayTotal.objects.filter(kind__in=list(kinds))
    if start is not None:
        rows = rows.filter(day__gte=start)
    if end is not None:
        rows = rows.filter(day__lte=end)
    return rows


def _split_rows(kind: str, start: date | None, end: date | None) -> QuerySet[StatRollup]:
    rows = StatRollup.objects.filter(kind=kind)
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
    rows = _rows(kinds, start, end)
    if period != "day":  # the database adds the days up (a year: 12 rows a kind, not 365)
        rows = rows.annotate(period=Trunc("day", period, output_field=DateField()))
    else:
        rows = rows.annotate(period=F("day"))
    for when, kind, count in rows.values_list("period", "kind").annotate(n=Sum("count")).order_by():
        if isinstance(when, datetime):  # (some backends answer a date with a time)
            when = when.date()
        counts[bucket(when, period)][kind] += int(count)
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
    rows: QuerySet[StatRollup] | QuerySet[StatHourRollup] = (
        _split_rows(kind, start, end) if by != "hour" else _hour_rows(kind, start, end)
    )
    found: dict[str, int] = {}
    for key, count in rows.values_list(by).annotate(n=Sum("count")).order_by(by):
        found[str(key)] = int(count)
    return found


def _hour_rows(kind: str, start: date | None, end: date | None) -> QuerySet[StatHourRollup]:
    rows = StatHourRollup.objects.filter(kind=kind)
    if start is not None:
        rows = rows.filter(day__gte=start)
    if end is not None:
        rows = rows.filter(day__lte=end)
    return rows


def mean(kind: str, start: date | None = None, end: date | None = None) -> float | None:
    """The average value of the kind's events that carry one (seconds to answer, say)."""
    sums = _rows([kind], start, end).aggregate(s=Sum("value_sum"), n=Sum("value_count"))
    return sums["s"] / sums["n"] if sums["n"] else None


@dataclass(frozen=True)
class Shown:
    """A count as the public sees it: the number, "fewer than 10", or "withheld" (a count of ten
    or more hidden so that a hidden small count cannot be worked out from a total)."""

    count: int
    suppressed: bool
    withheld: bool = False

    def __str__(self) -> str:
        if self.withheld:
            return str(_("withheld"))
        if self.suppressed:
            return str(_("fewer than %(n)d") % {"n": SUPPRESS_BELOW})
        return str(self.count)

    @property
    def hidden(self) -> bool:
        return self.suppressed or self.withheld


def shown(count: int) -> Shown:
    """Any count below ten, none included, is "fewer than 10" (a zero next to a "fewer than
    10" would tell what the other hides)."""
    return Shown(count, count < SUPPRESS_BELOW)


def shown_column(total: int, parts: list[int]) -> tuple[Shown, list[Shown]]:
    """A total and the parts it adds up to (months), as the public sees them. A small part is
    "fewer than 10" (0 to 9 for a reader), a withheld part "10 or more". Shown parts are
    withheld, smallest first, until the total minus what is shown leaves every small part
    anywhere from 0 to 9; if no choice does, the total is withheld as well."""
    cells = [shown(n) for n in parts]
    head = shown(total)
    if head.suppressed or not any(cell.suppressed for cell in cells):
        return head, cells
    while not _protected(total, parts, cells):
        rest = [i for i, cell in enumerate(cells) if not (cell.suppressed or cell.withheld)]
        if not rest:
            return Shown(total, False, withheld=True), cells
        smallest = min(rest, key=lambda i: parts[i])
        cells[smallest] = Shown(parts[smallest], False, withheld=True)
    return head, cells


def _protected(total: int, parts: list[int], cells: list[Shown]) -> bool:
    """Whether a reader who knows the total, the shown parts and that each hidden part is
    0–9 ("fewer than 10") or at least 10 ("withheld") can still put every small part anywhere
    from 0 to 9. With ``k`` small parts and ``w`` withheld ones hiding ``h`` in all, a small
    part is at most ``h - 10w`` and at least ``h - 9(k-1)`` (unbounded when ``w`` > 0)."""
    hidden = total - sum(n for n, cell in zip(parts, cells, strict=True) if not cell.hidden)
    small = sum(1 for cell in cells if cell.suppressed)
    withheld = sum(1 for cell in cells if cell.withheld)
    top = SUPPRESS_BELOW - 1
    highest = hidden - SUPPRESS_BELOW * withheld
    lowest_possible_is_zero = withheld > 0 or hidden <= top * (small - 1)
    return highest >= top and lowest_possible_is_zero


def funnel(start: date | None = None, end: date | None = None) -> list[tuple[str, object, int]]:
    found = totals([kind for kind, _label in FUNNEL], start, end)
    return [(kind, label, found[kind]) for kind, label in FUNNEL]


# -- The public page -------------------------------------------------------------------------

#: At most this many months on the public page (the newest).
PUBLIC_MONTHS = 120
CACHE_SECONDS = 3600
UNCOUNTED_CACHE_SECONDS = 60


def cutoff(today: date, weeks: int | None = None, whole_months: bool | None = None) -> date:
    """The last day the public figures count: the end (Sunday) of the previous week, ``weeks``
    weeks further back (``LIFELINE_FIGURES_DELAY_WEEKS``); with ``whole_months``
    (``LIFELINE_FIGURES_WHOLE_MONTHS``), the end of the last month that ends by then, so that
    the published figures change once a month, not once a week (two weekly snapshots of the
    same month, subtracted, would give a week's count)."""
    if weeks is None:
        weeks = settings.LIFELINE_FIGURES_DELAY_WEEKS
    if whole_months is None:
        whole_months = settings.LIFELINE_FIGURES_WHOLE_MONTHS
    last = today - timedelta(days=today.weekday() + 1) - timedelta(weeks=max(weeks, 0))
    if whole_months and (last + timedelta(days=1)).day != 1:
        last = last.replace(day=1) - timedelta(days=1)
    return last


def published_kinds() -> list[str]:
    chosen = set(PublishedFigure.objects.values_list("kind", flat=True))
    return [kind for kind in PUBLISHABLE if kind in chosen]


@dataclass(frozen=True)
class PublicFigures:
    """Counts as published: plain numbers (the page shows each through ``shown``)."""

    until: date
    kinds: list[str]
    totals: dict[str, int]
    months: list[tuple[date, dict[str, int]]]  # newest first


def public_figures(today: date) -> PublicFigures:
    """The figures the public page shows, up to ``cutoff(today)``: cached for an hour, and
    computed anew as soon as a supervisor changes what is published."""
    until = cutoff(today)
    mark = PublishedFigure.objects.aggregate(n=Count("pk"), at=Max("published_at"))
    stamp = mark["at"].timestamp() if mark["at"] is not None else 0
    key = f"lifeline:public-figures:{until}:{mark['n']}:{stamp}"
    found = cache.get(key)
    if isinstance(found, PublicFigures):
        return found
    kinds = published_kinds()
    months: list[tuple[date, dict[str, int]]] = []
    if kinds:
        first = _rows(kinds, None, until).aggregate(first=Min("day"))["first"]
        if first is not None:
            start = max(first, _months_before(until, PUBLIC_MONTHS - 1))
            months = list(reversed(series(kinds, start, until, "month")))
    figures = PublicFigures(until, kinds, totals(kinds, None, until), months)
    # Events of the last days the worker has not counted yet (a Monday just after midnight):
    # cached briefly, so the page is whole as soon as they are.
    uncounted = StatEvent.objects.filter(
        rolled=False, hour__lt=datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    ).exists()
    cache.set(key, figures, UNCOUNTED_CACHE_SECONDS if uncounted else CACHE_SECONDS)
    return figures


@dataclass(frozen=True)
class PublicTable:
    """The public figures as shown: each kind's total and months through ``shown_column``."""

    totals: list[tuple[object, Shown]]
    labels: list[object]
    months: list[tuple[date, list[Shown]]]  # newest first; a cell per kind
    withheld: bool


def public_table(found: PublicFigures) -> PublicTable:
    labels = [KINDS[kind] for kind in found.kinds]
    columns = [
        shown_column(found.totals[kind], [counts[kind] for _m, counts in found.months])
        for kind in found.kinds
    ]
    return PublicTable(
        totals=[(label, head) for label, (head, _cells) in zip(labels, columns, strict=True)],
        labels=labels,
        months=[
            (month, [cells[i] for _head, cells in columns])
            for i, (month, _counts) in enumerate(found.months)
        ],
        withheld=any(cell.withheld for head, cells in columns for cell in (head, *cells)),
    )


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)
