"""Failed messages: what the pipeline gave up on, for a supervisor to retry or discard."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from lifeline.channels import failures
from lifeline.core.models import Role, User

from ..decorators import role_required


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def failed(request: HttpRequest, actor: User) -> HttpResponse:
    if request.method == "POST":
        action, kind = request.POST.get("action", ""), request.POST.get("kind", "")
        try:
            pk = UUID(request.POST.get("id", ""))
        except ValueError:
            pk = None
        if pk is None or kind not in ("inbound", "outbound") or action not in ("retry", "discard"):
            messages.error(request, _("Choose a message and what to do with it."))
            return redirect("console:failed")
        try:
            if action == "retry":
                failures.failure_retry(actor=actor, kind=kind, pk=pk)
                messages.success(request, _("Put back in the queue: it will be tried again."))
            else:
                failures.failure_discard(actor=actor, kind=kind, pk=pk)
                messages.success(request, _("Discarded: its content is erased."))
        except ObjectDoesNotExist:
            messages.error(request, _("That message is no longer waiting here."))
        return redirect("console:failed")
    return render(
        request, "console/failures/failed.html", {"failures": failures.failures_for(actor)}
    )
