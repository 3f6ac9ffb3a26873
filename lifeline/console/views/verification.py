"""The verifier's queue: applications waiting for verification, oldest first."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lifeline.cases.models import (
    CaseStatus,
)
from lifeline.cases.selectors import case_duplicates, cases_visible_to, suspicion_hints
from lifeline.core.models import Role, User

from ..decorators import role_required


@role_required(Role.VERIFIER, Role.SUPERVISOR)
@require_GET
def verification_queue(request: HttpRequest, actor: User) -> HttpResponse:
    """Applications waiting for verification, the longest wait first, with how many other
    cases share their details (never merged automatically: the verifier looks)."""
    waiting = list(
        cases_visible_to(actor)
        .filter(status=CaseStatus.APPLIED)
        .select_related("assignee")
        .order_by("created_at")[:200]
    )
    rows = [
        {
            "case": case,
            "duplicates": case_duplicates(case).count(),
            "hints": suspicion_hints(case),
        }
        for case in waiting
    ]
    return render(
        request,
        "console/verification/verification_queue.html",
        {"rows": rows, "total": cases_visible_to(actor).filter(status=CaseStatus.APPLIED).count()},
    )
