"""Hooks for django-axes: lock an account per *browser*, without reading any client address.

A stranger who knows a username must not be able to lock its owner out (issue #10). After a
complete sign-in (password and second factor) the browser receives a **device cookie**
(OWASP, "Slow down online guessing attacks with device cookies"): a random nonce and an HMAC
binding it to the username, HttpOnly, SameSite=Strict, path ``/console/``. django-axes then
counts failed passwords per (username, client), where the client is

* for a browser holding a device cookie valid for the username typed: a keyed hash of the
  cookie's nonce, written as an address in ``fd00::/8`` (axes keeps clients in an IP address
  column; these are not addresses of anything and are never derived from one);
* for every other client: ``UNKNOWN_CLIENT``, one shared bucket per username.

Five failures lock that bucket for ``AXES_COOLOFF_TIME`` hours. A stranger locks at most the
unknown-clients bucket; the owner keeps signing in from a browser he used before. A supervisor
clears every bucket of an account from its staff page (``staff_unlock``).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import salted_hmac

# The lockout bucket of clients without a valid device cookie (one per username).
from lifeline.core.staff import UNKNOWN_CLIENT

DEVICE_COOKIE = "lifeline_device"
_COOKIE_SALT = "lifeline.console.device_cookie"
_KEY_SALT = "lifeline.console.device_key"


def _cookie_mac(nonce: str, username: str) -> str:
    return salted_hmac(_COOKIE_SALT, f"{nonce}|{username}", algorithm="sha256").hexdigest()[:32]


def _valid_nonce(request: HttpRequest, username: object) -> str | None:
    """The nonce of the request's device cookie if it was issued for ``username``."""
    value = request.COOKIES.get(DEVICE_COOKIE, "")
    if not isinstance(username, str) or not username or len(value) > 200 or "." not in value:
        return None
    nonce, mac = value.rsplit(".", 1)
    if not nonce or not hmac.compare_digest(mac, _cookie_mac(nonce, username)):
        return None
    return nonce


def remember_device(request: HttpRequest, response: HttpResponse, username: str) -> None:
    """After a complete sign-in: give the browser a device cookie for ``username`` (kept if it
    has a valid one already, so its lockout bucket stays the same)."""
    if _valid_nonce(request, username) is not None:
        return
    nonce = secrets.token_urlsafe(24)
    response.set_cookie(
        DEVICE_COOKIE,
        f"{nonce}.{_cookie_mac(nonce, username)}",
        max_age=settings.LIFELINE_DEVICE_COOKIE_DAYS * 24 * 3600,
        path="/console/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
    )


def device_client(request: HttpRequest) -> str:
    """``AXES_CLIENT_IP_CALLABLE``: the lockout bucket of this login attempt. Never the
    client's address."""
    username = request.POST.get("username")  # the login form's field, as axes reads it
    nonce = _valid_nonce(request, username)
    if nonce is None:
        return UNKNOWN_CLIENT
    digest = salted_hmac(_KEY_SALT, nonce, algorithm="sha256").digest()
    return ipaddress.IPv6Address(b"\xfd" + digest[:15]).compressed


def client_label(
    username: str, ip_address: Any, user_agent: Any, path_info: Any, request: Any
) -> str:
    """How axes names a client in its messages: the account, and whether the browser is known."""
    where = "an unknown browser" if ip_address == UNKNOWN_CLIENT else "a known browser"
    return f"account {username!r} from {where}"


class LockoutHandler(AxesDatabaseHandler):
    """axes' database handler, minus the user agent and Accept header it would store with each
    failure: nothing that describes a staff member's device is kept."""

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
    ) -> None:
        if request is not None:
            request.axes_user_agent = ""
            request.axes_http_accept = ""
        super().user_login_failed(sender, credentials, request, **kwargs)
