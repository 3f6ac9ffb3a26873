"""Console-wide rules, applied before any console view runs.

* No console page without a verified second factor: an anonymous visitor goes to the login page,
  a logged-in one without a verified TOTP to enrolment (first time) or to the code page.
* Absolute session limit (12 hours); the idle limit is the session cookie age, renewed per request.
* Every console response: ``Cache-Control: no-store`` and HSTS.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

CONSOLE_PREFIX = "/console/"
LOGIN_STARTED = "lifeline_login_at"


def _open_paths() -> frozenset[str]:
    # The enrolment page is for people who have no password yet (a valid one-time token,
    # POSTed, is its only key; see console/staff_views.py).
    return frozenset(
        {reverse("console:login"), reverse("console:logout"), reverse("console:enrol")}
    )


def _second_factor_paths() -> frozenset[str]:
    return frozenset({reverse("console:otp_setup"), reverse("console:otp_verify")})


class ConsoleSecurityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(CONSOLE_PREFIX):
            return self.get_response(request)
        response = self._gate(request) or self.get_response(request)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        response["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        return response

    def _gate(self, request: HttpRequest) -> HttpResponse | None:
        user = request.user
        if user.is_authenticated:
            started = request.session.get(LOGIN_STARTED)
            limit = settings.LIFELINE_SESSION_ABSOLUTE_SECONDS
            if (
                started is None
                or (timezone.now() - datetime.fromisoformat(started)).total_seconds() > limit
            ):
                logout(request)
                return HttpResponseRedirect(reverse("console:login") + "?expired=1")
        if request.path in _open_paths():
            return None
        if not user.is_authenticated:
            return HttpResponseRedirect(
                f"{reverse('console:login')}?next={quote(request.get_full_path())}"
            )
        if getattr(user, "is_verified", lambda: False)():  # set by django-otp's middleware
            return None
        if request.path in _second_factor_paths():
            return None
        enrolled = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        target = "console:otp_verify" if enrolled else "console:otp_setup"
        return HttpResponseRedirect(f"{reverse(target)}?next={quote(request.get_full_path())}")
