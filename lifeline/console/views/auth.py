"""Signing in with a password and a second factor, signing out, and the overview page."""

from __future__ import annotations

import base64
from typing import Any

import segno
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from lifeline.audit.services import audit_record
from lifeline.cases.models import (
    Case,
    CaseStatus,
)
from lifeline.cases.selectors import (
    CASE_ROLES,
)
from lifeline.core import limits
from lifeline.core.models import User

from ..forms import TokenForm
from ..middleware import LOGIN_STARTED, SESSION_EXPIRED, pop_next_path
from ..security import UNKNOWN_CLIENT, device_client, remember_device
from .common import (
    _user,
)


def _next_url(request: HttpRequest) -> str:
    """Where to go after signing in: the console page first asked for, kept in the session by
    ``ConsoleSecurityMiddleware`` (a path, no query string), never a ``?next=`` parameter."""
    return pop_next_path(request) or reverse("console:home")


class LoginView(auth_views.LoginView):
    template_name = "console/auth/login.html"
    redirect_authenticated_user = False

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # A global budget of password checks for browsers the account has not signed in from
        # (each check costs tens to hundreds of milliseconds of a core): a flood of sign-ins
        # from anywhere waits instead of taking the server's CPU. A browser holding this
        # account's device cookie is never held by it, so a stranger's flood cannot keep the
        # staff out (as issue #10's lockout per browser).
        known = device_client(request) != UNKNOWN_CLIENT
        if not known and not limits.budget("password_hash"):
            form = self.get_form_class()(request)  # unbound: validating it would hash
            response = self.render_to_response(self.get_context_data(form=form, busy=True))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        self.request.session[LOGIN_STARTED] = timezone.now().isoformat()
        audit_record(
            actor=form.get_user(),
            action="staff.login",
            object_type="user",
            object_id=form.get_user().pk,
        )
        return response

    def get_success_url(self) -> str:
        return _next_url(self.request)

    def get_redirect_url(self) -> str:
        return ""  # no ``?next=``: the target is kept in the session (see _next_url)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # Set by the middleware when the absolute session limit ended the last session.
        context["expired"] = bool(self.request.session.pop(SESSION_EXPIRED, False))
        return context


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(
            actor=request.user, action="staff.logout", object_type="user", object_id=request.user.pk
        )
    logout(request)
    return redirect("console:login")


def _signed_in(request: HttpRequest, user: User) -> HttpResponse:
    """Both factors passed: on to the console, and this browser becomes a known device for the
    account (its own lockout bucket, see ``console/security.py``)."""
    response = HttpResponseRedirect(_next_url(request))
    remember_device(request, response, user.get_username())
    return response


@require_http_methods(["GET", "POST"])
def otp_setup(request: HttpRequest) -> HttpResponse:
    """First login: enrol a TOTP authenticator from a QR code, confirmed by one code."""
    user = _user(request)
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return redirect("console:otp_verify")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="console", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_is_allowed()[0] and device.verify_token(form.cleaned_data["otp_token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            audit_record(
                actor=user,
                action="staff.totp_enrolled",
                object_type="user",
                object_id=user.pk,
                fields=["totp_device"],
            )
            return _signed_in(request, user)
        form.add_error(
            "otp_token",
            _("That code is not right. Check the time on your phone and enter the code shown now."),
        )
    secret = base64.b32encode(device.bin_key).decode()
    qr = segno.make(device.config_url, error="m")
    return render(
        request,
        "console/auth/otp_setup.html",
        {
            "form": form,
            "qr_data_uri": qr.svg_data_uri(scale=5, border=2),
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        },
    )


@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    """Every login: the current code from the enrolled authenticator. A code works once."""
    user = _user(request)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return redirect("console:otp_setup")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _info = device.verify_is_allowed()
        if allowed and device.verify_token(form.cleaned_data["otp_token"]):
            otp_login(request, device)
            audit_record(
                actor=user, action="staff.second_factor", object_type="user", object_id=user.pk
            )
            return _signed_in(request, user)
        audit_record(
            actor=user, action="staff.second_factor_failed", object_type="user", object_id=user.pk
        )
        message = (
            _("That code is not right, or it was already used. Wait for the next code.")
            if allowed
            else _("Too many wrong codes. Wait a little and try again.")
        )
        form.add_error("otp_token", message)
    return render(request, "console/auth/otp_verify.html", {"form": form})


#: Roles shown live counts of cases per status (how many are in operation right now is
#: operational information). Press and admin see none: the press gets published figures only.
LIVE_COUNT_ROLES = CASE_ROLES


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    # Counts only, no personal field is read; and only for roles that work with cases.
    rows: list[tuple[Any, int]] = []  # (lazy status label, count)
    if _user(request).role in LIVE_COUNT_ROLES:
        counts = dict(Case.objects.values_list("status").annotate(n=Count("pk")).order_by())
        rows = [(status.label, counts.get(status.value, 0)) for status in CaseStatus]
    return render(request, "console/auth/home.html", {"rows": rows})
