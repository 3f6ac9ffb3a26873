"""Canned answers: supervisors write, change, retire and bring them back, per language.
Operators pick them in a conversation, where they land in the reply box to be edited."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from lifeline.conversations import services as conversations
from lifeline.conversations.models import CannedAnswer
from lifeline.core.models import Role, User

from ..decorators import role_required
from ..forms import CannedAnswerForm
from .common import _user


def _save(request: HttpRequest, form: CannedAnswerForm, answer: CannedAnswer | None) -> bool:
    if not form.is_valid():
        return False
    data = form.cleaned_data
    try:
        conversations.canned_save(
            actor=_user(request),
            answer=answer,
            language=data["language"],
            title=data["title"],
            text=data["text"],
            position=data.get("position") or 0,
        )
    except (ValueError, PermissionDenied) as error:
        form.add_error(None, str(error))
        return False
    return True


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def canned_list(request: HttpRequest, actor: User) -> HttpResponse:
    form = CannedAnswerForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and _save(request, form, None):
        messages.success(request, _("Canned answer saved."))
        return redirect("console:canned_list")
    return render(
        request,
        "console/canned/canned_list.html",
        {"form": form, "answers": CannedAnswer.objects.select_related("updated_by")},
        status=400 if form.is_bound else 200,
    )


@role_required(Role.SUPERVISOR)
@require_http_methods(["GET", "POST"])
def canned_detail(request: HttpRequest, actor: User, answer_id: int) -> HttpResponse:
    answer = CannedAnswer.objects.filter(pk=answer_id).first()
    if answer is None:
        raise Http404
    if request.method == "POST" and request.POST.get("action") in ("retire", "restore"):
        conversations.canned_set_active(
            actor=actor, answer=answer, active=request.POST["action"] == "restore"
        )
        messages.success(request, _("Done."))
        return redirect("console:canned_list")
    initial = {
        "language": answer.language,
        "title": answer.title,
        "text": answer.text,
        "position": answer.position,
    }
    form = CannedAnswerForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and _save(request, form, answer):
        messages.success(request, _("Canned answer saved."))
        return redirect("console:canned_list")
    return render(
        request,
        "console/canned/canned_detail.html",
        {"form": form, "answer": answer},
        status=400 if form.is_bound else 200,
    )
