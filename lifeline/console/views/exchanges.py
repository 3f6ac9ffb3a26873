"""Exchanges: record and correct them, attach the men released in them, and see who waits."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from lifeline.cases import workflow
from lifeline.cases.errors import CaseError
from lifeline.cases.models import Disposition, DispositionKind, Exchange
from lifeline.cases.selectors import cases_visible_to
from lifeline.core.models import User

from ..decorators import role_required
from ..forms import ExchangeForm


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def _waiting(user: User) -> list[Disposition]:
    """Surrendered men recorded as waiting for an exchange, longest wait first."""
    return list(
        Disposition.objects.filter(
            kind=DispositionKind.AWAITING_EXCHANGE, case__in=cases_visible_to(user)
        )
        .select_related("case")
        .order_by("recorded_at")
    )


def _saved(form: ExchangeForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "date": data["date"],
        "released_by_ukraine": data["released_by_ukraine"],
        "released_by_russia": data["released_by_russia"],
        "place": data.get("place") or "",
        "note": data.get("note") or "",
    }


@role_required(*workflow.EXCHANGE_ROLES)
@require_http_methods(["GET", "POST"])
def exchanges(request: HttpRequest, actor: User) -> HttpResponse:
    form = ExchangeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            exchange = workflow.exchange_record(actor=actor, **_saved(form))
        except CaseError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Exchange recorded."))
            return redirect("console:exchange_detail", exchange_id=exchange.pk)
    return render(
        request,
        "console/exchanges/exchanges.html",
        {
            "form": form,
            "exchanges": Exchange.objects.all()[:200],
            "waiting": _waiting(actor),
        },
        status=400 if form.is_bound else 200,
    )


@role_required(*workflow.EXCHANGE_ROLES)
@require_http_methods(["GET", "POST"])
def exchange_detail(request: HttpRequest, actor: User, exchange_id: int) -> HttpResponse:
    exchange = Exchange.objects.filter(pk=exchange_id).first()
    if exchange is None:
        raise Http404
    initial = {
        "date": exchange.date,
        "place": exchange.place,
        "released_by_ukraine": exchange.released_by_ukraine,
        "released_by_russia": exchange.released_by_russia,
        "note": exchange.note,
    }
    form = ExchangeForm(initial=initial)
    status = 200
    action = request.POST.get("action", "")
    if request.method == "POST" and action == "update":
        form = ExchangeForm(request.POST, initial=initial)
        if form.is_valid():
            try:
                workflow.exchange_update(actor=actor, exchange=exchange, **_saved(form))
            except CaseError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Saved."))
                return redirect("console:exchange_detail", exchange_id=exchange.pk)
        status = 400
    elif request.method == "POST" and action == "attach":
        return _attach(request, actor, exchange)
    elif request.method == "POST":
        messages.error(request, _("Unknown action."))
        return redirect("console:exchange_detail", exchange_id=exchange.pk)
    released = (
        Disposition.objects.filter(exchange=exchange, case__in=cases_visible_to(actor))
        .select_related("case")
        .order_by("case__number")
    )
    return render(
        request,
        "console/exchanges/exchange_detail.html",
        {"exchange": exchange, "form": form, "released": released, "waiting": _waiting(actor)},
        status=status,
    )


def _attach(request: HttpRequest, user: User, exchange: Exchange) -> HttpResponse:
    """Record the chosen men as released in this exchange (their disposition becomes
    "exchanged"; each case's timeline and the audit log say so)."""
    ids = [_uuid(value) for value in request.POST.getlist("case")[:500]]
    cases = list(
        cases_visible_to(user)
        .filter(pk__in=[pk for pk in ids if pk is not None])
        .select_related("disposition")
    )
    if not cases:
        messages.error(request, _("Choose at least one person released in this exchange."))
        return redirect("console:exchange_detail", exchange_id=exchange.pk)
    done: list[str] = []
    for case in cases:
        previous = getattr(case, "disposition", None)
        try:
            workflow.case_set_disposition(
                case=case,
                actor=user,
                kind=DispositionKind.EXCHANGED,
                exchange=exchange,
                note=previous.note if previous is not None else None,
            )
        except CaseError as error:
            messages.error(request, f"{case.number}: {error}")
        else:
            done.append(case.number)
    if done:
        messages.success(
            request,
            _("Recorded as released in this exchange: %(cases)s") % {"cases": ", ".join(done)},
        )
    return redirect("console:exchange_detail", exchange_id=exchange.pk)
