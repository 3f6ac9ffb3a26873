"""Figures about the work on cases, for supervisors: applications waiting for verification by
age (live), and the median time between the stages of the workflow. Counts and durations only;
nothing here reads a personal field."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.utils.translation import gettext_lazy as _

from .models import Case, CaseEvent, CaseStatus

#: Age brackets of the applications waiting for verification: (older than, label).
AGE_BRACKETS: list[tuple[timedelta, object]] = [
    (timedelta(0), _("under a day")),
    (timedelta(days=1), _("1 to 3 days")),
    (timedelta(days=3), _("3 to 7 days")),
    (timedelta(days=7), _("7 to 30 days")),
    (timedelta(days=30), _("over 30 days")),
]

#: The stages, in order, that a case goes through.
STAGES = [
    CaseStatus.APPLIED,
    CaseStatus.VERIFIED,
    CaseStatus.READY,
    CaseStatus.OPERATION,
    CaseStatus.SURRENDERED,
]


def pending_by_age(now: datetime) -> list[tuple[object, int]]:
    """Applications waiting for verification now, by how long they have waited."""
    bounds = [now - older for older, _label in AGE_BRACKETS] + [None]
    counts = Case.objects.filter(status=CaseStatus.APPLIED).aggregate(
        **{
            f"b{i}": Count(
                "pk",
                filter=Q(created_at__lte=bounds[i])
                & (Q(created_at__gt=bounds[i + 1]) if bounds[i + 1] is not None else Q()),
            )
            for i in range(len(AGE_BRACKETS))
        }
    )
    return [(label, int(counts[f"b{i}"])) for i, (_older, label) in enumerate(AGE_BRACKETS)]


@dataclass(frozen=True)
class StageTime:
    start: str  # status
    end: str
    cases: int
    median_seconds: float | None

    @property
    def label(self) -> str:
        return f"{CaseStatus(self.start).label} → {CaseStatus(self.end).label}"


def stage_times(since: datetime, until: datetime) -> list[StageTime]:
    """For each step of the workflow, the median time cases took to make it, over the cases
    that made it between ``since`` and ``until`` (first arrival at each stage)."""
    moved = CaseEvent.objects.filter(
        to_status__in=STAGES[1:], created_at__gte=since, created_at__lt=until
    ).values("case_id")
    first: dict[object, dict[str, datetime]] = defaultdict(dict)
    for case_id, status, at in (
        CaseEvent.objects.filter(case_id__in=moved, to_status__in=STAGES)
        .values_list("case_id", "to_status")
        .annotate(at=Min("created_at"))
        .order_by()
    ):
        first[case_id][status] = at
    out = []
    for start, end in zip(STAGES, STAGES[1:], strict=False):
        took = [
            (times[end] - times[start]).total_seconds()
            for times in first.values()
            if start in times and end in times and since <= times[end] < until
        ]
        out.append(StageTime(start, end, len(took), statistics.median(took) if took else None))
    return out
