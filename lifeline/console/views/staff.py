"""Staff accounts in the console: the list with the changes waiting for approval, new accounts,
one account's page, decisions on requests, and the enrolment page where a person sets his own
password. The rules are in ``lifeline.core.staff``; these views only call them.

The enrolment token never travels in a URL the server sees: the link handed over is
``/console/enrol/#<token>``. Browsers do not send the fragment, so it reaches no access log,
proxy log, ``Referer`` or Django log line; a small script (``enrol.js``) moves it into the form,
removes it from the address bar, and the token is then only ever POSTed.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from lifeline.core import staff as staff_services
from lifeline.core.models import StaffChangeRequest, User

from ..decorators import role_required
from ..forms import EnrolCodeForm, StaffCreateForm, StaffRoleForm

MANAGERS = tuple(staff_services.STAFF_MANAGER_ROLES)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - the middleware guarantees a logged-in user
    return user


def _error_text(error: PermissionDenied | ValidationError) -> str:
    return "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)


def _changes_for(actor: User, changes: list[StaffChangeRequest]) -> list[dict[str, object]]:
    return [
        {
            "change": change,
            "may_decide": staff_services.may_decide(actor, change),
            "mine": change.requested_by_id == actor.pk,
        }
        for change in changes
    ]


def _link_page(request: HttpRequest, person: User, token: str) -> HttpResponse:
    """The enrolment link, shown once, in the answer to the POST that made it."""
    link = f"{request.build_absolute_uri(reverse('console:enrol'))}#{token}"
    return render(
        request,
        "console/staff/staff_link.html",
        {"person": person, "link": link, "hours": settings.LIFELINE_ENROLMENT_LINK_HOURS},
    )


_REQUESTED = "requested"


def _requested_message(request: HttpRequest) -> None:
    messages.info(
        request,
        _("Request recorded. Another supervisor must approve it in the staff list."),
    )


@role_required(*MANAGERS)
@require_http_methods(["GET"])
def staff_list(request: HttpRequest, actor: User) -> HttpResponse:
    actor = actor
    people = User.objects.order_by("username")
    enrolled = set(TOTPDevice.objects.filter(confirmed=True).values_list("user_id", flat=True))
    return render(
        request,
        "console/staff/staff_list.html",
        {
            "people": people,
            "enrolled": enrolled,
            "changes": _changes_for(actor, list(staff_services.pending_changes())),
            "handovers": list(staff_services.links_to_hand_over(actor)),
        },
    )


@role_required(*MANAGERS)
@require_http_methods(["GET", "POST"])
def staff_create(request: HttpRequest, actor: User) -> HttpResponse:
    form = StaffCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = staff_services.staff_create(actor=actor, **form.cleaned_data)
        except (PermissionDenied, ValidationError) as error:
            form.add_error(None, _error_text(error))
        else:
            if created.token is None:
                _requested_message(request)
                return redirect("console:staff_list")
            assert created.change.target is not None  # noqa: S101 - made at once
            return _link_page(request, created.change.target, created.token)
    return render(request, "console/staff/staff_create.html", {"form": form})


@role_required(*MANAGERS)
@require_http_methods(["GET", "POST"])
def staff_detail(request: HttpRequest, actor: User, user_id: int) -> HttpResponse:
    actor = actor
    person = get_object_or_404(User, pk=user_id)
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            outcome = _staff_action(actor, person, action, request)
        except (PermissionDenied, ValidationError) as error:
            messages.error(request, _error_text(error))
        else:
            if outcome == _REQUESTED:
                _requested_message(request)
            else:
                messages.success(request, _("Done."))
        return redirect("console:staff_detail", user_id=person.pk)
    changes = list(staff_services.pending_changes().filter(target=person))
    return render(
        request,
        "console/staff/staff_detail.html",
        {
            "person": person,
            "role_form": StaffRoleForm(initial={"role": person.role}),
            "is_self": person.pk == actor.pk,
            "enrolled": TOTPDevice.objects.filter(user=person, confirmed=True).exists(),
            "lockout": staff_services.staff_lockout(person),
            "changes": _changes_for(actor, changes),
        },
    )


def _staff_action(actor: User, person: User, action: str, request: HttpRequest) -> str:
    """Run one action of the staff page; ``_REQUESTED`` when it now waits for approval."""
    result: object = None
    if action == "set_role":
        role_form = StaffRoleForm(request.POST)
        if not role_form.is_valid():
            raise ValidationError(_("Choose a role."))
        result = staff_services.staff_set_role(
            actor=actor, user=person, role=role_form.cleaned_data["role"]
        )
    elif action == "disable":
        staff_services.staff_disable(actor=actor, user=person)
    elif action == "enable":
        result = staff_services.staff_enable(actor=actor, user=person)
    elif action == "reset_password":
        result = staff_services.staff_request_password_reset(actor=actor, user=person)
    elif action == "reset_totp":
        result = staff_services.staff_request_totp_reset(actor=actor, user=person)
    elif action == "unlock":
        staff_services.staff_unlock(actor=actor, user=person)
    else:
        raise ValidationError(_("Unknown action."))
    return _REQUESTED if isinstance(result, StaffChangeRequest) else "done"


@role_required(*MANAGERS)
@require_POST
def staff_change(request: HttpRequest, actor: User, change_id: int) -> HttpResponse:
    """Approve, refuse or cancel a request, or (its requester, once) see its enrolment link."""
    actor = actor
    change = get_object_or_404(StaffChangeRequest, pk=change_id)
    action = request.POST.get("action", "")
    try:
        if action == "link":
            token = staff_services.staff_issue_link(actor=actor, change=change)
            change.refresh_from_db()
            assert change.target is not None  # noqa: S101 - checked by the service
            return _link_page(request, change.target, token)
        if action == "approve":
            change = staff_services.staff_request_approve(actor=actor, change=change)
            text = _("Approved.")
            if change.kind in staff_services.LINK_KINDS:
                text = _(
                    "Approved. The person who asked now receives the enrolment link on the "
                    "staff list, to hand over."
                )
            messages.success(request, text)
        elif action == "refuse":
            staff_services.staff_request_refuse(actor=actor, change=change)
            messages.success(request, _("Refused."))
        elif action == "cancel":
            staff_services.staff_request_cancel(actor=actor, change=change)
            messages.success(request, _("Request cancelled."))
        else:
            raise ValidationError(_("Unknown action."))
    except (PermissionDenied, ValidationError) as error:
        messages.error(request, _error_text(error))
    return redirect("console:staff_list")


@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """Open without signing in. GET: the code form (filled from the link's fragment by
    ``enrol.js``). POST with a token: 404 unless it is a valid, unused, unexpired link; then the
    password form; with the passwords too, the password is set and the link spent."""
    if request.method == "GET":
        return render(request, "console/staff/enrol.html", {"code_form": EnrolCodeForm()})
    token = request.POST.get("token", "").strip()
    link = staff_services.enrolment_link_for(token)
    person = link.user
    form = SetPasswordForm(person, request.POST if "new_password1" in request.POST else None)
    if form.is_bound and form.is_valid():
        try:
            staff_services.staff_enrol(token=token, password=form.cleaned_data["new_password1"])
        except ValidationError as error:
            form.add_error("new_password2", error)
        else:
            messages.success(
                request,
                _(
                    "Your password is set. Sign in with it; you will then set up your "
                    "authenticator app."
                ),
            )
            return redirect("console:login")
    return render(
        request, "console/staff/enrol.html", {"form": form, "token": token, "person": person}
    )
