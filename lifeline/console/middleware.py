"""Console-wide rules, applied before any console view runs.

* No console page without a verified second factor: an anonymous visitor goes to the login page,
  a logged-in one without a verified TOTP to enrolment (first time) or to the code page.
* Absolute session limit (12 hours); the idle limit is the session cookie age, renewed per request.
* Every console response: ``Cache-Control: no-store`` and HSTS.
* Redirects to the login and second-factor pages carry no query string: the page first asked
  for is kept in the session (its path only), so nothing typed into a URL ends up in another
  URL, a browser history or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.plugins.otp_totp.models import TOTPDevice

CONSOLE_PREFIX = "/console/"
LOGIN_STARTED = "lifeline_login_at"
#: Session keys: the console path to open after signing in, and "the last session expired".
NEXT_PATH = "lifeline_next_path"
SESSION_EXPIRED = "lifeline_session_expired"
#: A path worth coming back to: plain segments, no query, fragment, "//", "\\" or "..".
_PLAIN_PATH = re.compile(r"/console/(?:[A-Za-z0-9_-]+/)*")


def safe_next_path(path: object) -> str | None:
    """``path`` if it is a console page to return to after signing in; otherwise None."""
    if not isinstance(path, str) or len(path) > 200 or not _PLAIN_PATH.fullmatch(path):
        return None
    if not url_has_allowed_host_and_scheme(path, allowed_hosts=None):
        return None
    try:
        match = resolve(path)
    except Resolver404:
        return None
    if match.namespace != "console" or path in _open_paths() | _second_factor_paths():
        return None
    return path


def remember_next_path(request: HttpRequest) -> None:
    path = safe_next_path(request.path) if request.method == "GET" else None
    if path is not None:
        request.session[NEXT_PATH] = path


def pop_next_path(request: HttpRequest) -> str | None:
    return safe_next_path(request.session.pop(NEXT_PATH, None))


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
                logout(request)  # a new, empty session
                request.session[SESSION_EXPIRED] = True
                remember_next_path(request)
                return HttpResponseRedirect(reverse("console:login"))
        if request.path in _open_paths():
            return None
        if not user.is_authenticated:
            # Only in a session that exists already: an anonymous flood of GETs must not fill
            # the session table (a deep link opened cold lands on the console home instead).
            if request.session.session_key is not None:
                remember_next_path(request)
            return HttpResponseRedirect(reverse("console:login"))
        if getattr(user, "is_verified", lambda: False)():  # set by django-otp's middleware
            return None
        if request.path in _second_factor_paths():
            return None
        enrolled = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        target = "console:otp_verify" if enrolled else "console:otp_setup"
        remember_next_path(request)
        return HttpResponseRedirect(reverse(target))
