"""Visits to the public pages, for the press office and supervisors: counts per day, page,
language and country (only a trusted proxy's). Nothing about any visitor exists to show."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from lifeline.core.models import Role, User
from lifeline.stats.models import PageVisit

from ..decorators import role_required

DAYS = 30


@role_required(Role.PRESS, Role.SUPERVISOR)
@require_GET
def visits(request: HttpRequest, actor: User) -> HttpResponse:
    since = timezone.now().date() - timedelta(days=DAYS - 1)
    recent = PageVisit.objects.filter(day__gte=since)
    return render(
        request,
        "console/visits/visits.html",
        {
            "days": DAYS,
            "by_page": recent.values("page", "language")
            .annotate(total=Sum("count"))
            .order_by("page", "language"),
            "by_day": recent.values("day").annotate(total=Sum("count")).order_by("-day"),
            "by_country": recent.exclude(country="")
            .values("country")
            .annotate(total=Sum("count"))
            .order_by("-total"),
        },
    )
