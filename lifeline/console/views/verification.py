"""The verifier's queue: applications waiting for verification. Those that raise no question
come first, the longest wait first; then those with reasons to look twice, each with its
reasons; then near-identical applications (the same rank, unit and place: what a flood of
fakes leaves) gathered one row per group, opened on demand. Nothing is merged or rejected
automatically: every application stays one the verifier decides (cases.suspicion)."""

from __future__ import annotations

import re

from django.db.models import Count, Max, Min
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from lifeline.cases import suspicion
from lifeline.cases.models import (
    Case,
    CaseStatus,
)
from lifeline.cases.selectors import case_duplicates, cases_visible_to, suspicion_hints
from lifeline.core.models import Role, User

from ..decorators import role_required

#: A group's name in the address: the fingerprint, a blind index's hex (cases.suspicion).
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
#: Near-identical applications from this many on are one row of the queue.
GROUP_AT = 3
#: Rows of each part of the queue at most (the count says how many wait in all).
SHOWN = 200


def _row(case: Case) -> dict[str, object]:
    return {
        "case": case,
        "duplicates": case_duplicates(case).count(),
        "hints": suspicion_hints(case),
    }


@role_required(Role.VERIFIER, Role.SUPERVISOR)
@require_GET
def verification_queue(request: HttpRequest, actor: User) -> HttpResponse:
    waiting = cases_visible_to(actor).filter(status=CaseStatus.APPLIED)
    opened = request.GET.get("group", "")
    if opened and not _FINGERPRINT.fullmatch(opened):
        return HttpResponseBadRequest(_("Not a group of the queue."))
    if opened:
        members = waiting.filter(answers_fingerprint=opened).select_related("assignee")
        return render(
            request,
            "console/verification/verification_queue.html",
            {
                "group": opened,
                "flagged": [_row(c) for c in members.order_by("created_at")[:SHOWN]],
                "total": members.count(),
            },
        )
    groups = list(
        waiting.exclude(answers_fingerprint="")
        .values("answers_fingerprint")
        .annotate(n=Count("pk"), first=Min("created_at"), last=Max("created_at"))
        .filter(n__gte=GROUP_AT)
        .order_by("-n")
    )
    gathered = [g["answers_fingerprint"] for g in groups]
    single = waiting.exclude(answers_fingerprint__in=gathered).select_related("assignee")
    for group in groups:
        newest = waiting.filter(answers_fingerprint=group["answers_fingerprint"]).latest(
            "created_at"
        )
        group["hints"] = suspicion.explained(newest)
    return render(
        request,
        "console/verification/verification_queue.html",
        {
            "clear": [_row(c) for c in single.filter(suspicion=0).order_by("created_at")[:SHOWN]],
            "flagged": [
                _row(c) for c in single.filter(suspicion__gt=0).order_by("created_at")[:SHOWN]
            ],
            "groups": groups,
            "total": waiting.count(),
        },
    )
