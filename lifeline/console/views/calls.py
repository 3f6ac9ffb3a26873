"""The phone script: a call without a chat, walked by the operator."""

from __future__ import annotations

from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from lifeline.cases import selectors
from lifeline.conversations.host import Reply, run_input, start_flow
from lifeline.conversations.models import (
    FlowRun,
    FlowRunStatus,
)
from lifeline.core.models import User

from ..decorators import role_required
from .common import (
    WORK_ROLES,
)


@role_required(*WORK_ROLES)
@require_POST
def call_new(request: HttpRequest, actor: User) -> HttpResponse:
    """Start the operator_call script (a call without a chat)."""
    start_flow(None, "operator_call", language=request.LANGUAGE_CODE, operator=actor)
    run = FlowRun.objects.filter(operator=actor, flow="operator_call").order_by("-started_at")[0]
    return redirect("console:call", run_id=run.pk)


@role_required(*WORK_ROLES)
@require_http_methods(["GET", "POST"])
def call(request: HttpRequest, actor: User, run_id: UUID) -> HttpResponse:
    run = FlowRun.objects.filter(pk=run_id, operator=actor).first()
    if run is None:
        raise PermissionDenied
    replies: list[Reply] = []
    if request.method == "POST" and run.status == FlowRunStatus.ACTIVE:
        answer = request.POST.get("choice") or request.POST.get("text") or ""
        replies = run_input(run, answer)
        run.refresh_from_db()
        # The session keeps only placeholders: code words are shown in this answer, once.
        request.session[f"call:{run.pk}"] = [(r.stored_text, list(r.buttons)) for r in replies]
        if not any(r.secret for r in replies):
            return redirect("console:call", run_id=run.pk)
        return _call_page(request, actor, run, [(r.text, list(r.buttons)) for r in replies])
    shown: list[tuple[str, list[str]]] | None = request.session.get(f"call:{run.pk}")
    if shown is None:
        from lifeline.conversations.engine import runner
        from lifeline.conversations.host import pinned_flow

        if run.state:
            state = runner.RunState.from_dict(run.state)
            prompt = runner.prompt(pinned_flow(run.flow, run.version), state)
            shown = [(m.text, list(m.buttons)) for m in prompt]
        else:
            shown = []
    return _call_page(request, actor, run, shown)


def _call_page(
    request: HttpRequest, user: User, run: FlowRun, shown: list[tuple[str, list[str]]]
) -> HttpResponse:
    return render(
        request,
        "console/calls/call.html",
        {
            "run": run,
            "shown": shown,
            "active": run.status == FlowRunStatus.ACTIVE,
            "case": run.case
            if run.case is not None
            and selectors.cases_visible_to(user).filter(pk=run.case.pk).exists()
            else None,
        },
    )
