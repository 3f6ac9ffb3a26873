"""The liaison's list of operations under way."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lifeline.cases import selectors
from lifeline.cases.models import (
    CaseStatus,
    DispositionKind,
)
from lifeline.core.models import Role, User

from ..decorators import role_required


@role_required(Role.LIAISON, Role.SUPERVISOR)
@require_GET
def operations(request: HttpRequest, actor: User) -> HttpResponse:
    cases = selectors.cases_visible_to(actor).filter(status=CaseStatus.OPERATION)
    return render(
        request,
        "console/operations/operations.html",
        {
            "views": [selectors.case_read(actor=actor, case=c) for c in cases],
            "dispositions": DispositionKind.choices,
        },
    )
