"""The webhook's fast path under a WSGI server: ``/telegram/webhook/`` answered before Django's
middleware stack, by the same :func:`~lifeline.channels.views.webhook_answer` as the view.

The webhook is authenticated by a header and needs none of what the middleware does for the
console and the public site (sessions, CSRF, authentication, OTP, axes, locale, CSP); skipping
it is most of what separates the webhook from a bare one-INSERT view. Django's request signals
are still sent, so database connections are reused and closed exactly as for any request.
Every other path goes to Django unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler

from .views import webhook_answer

log = logging.getLogger(__name__)
PATH = "/telegram/webhook/"
REASONS = {
    200: "200 OK",
    400: "400 Bad Request",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    503: "503 Service Unavailable",
}

StartResponse = Callable[..., Any]


def _body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None if it is larger than Django would accept."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
    raw = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if raw.isascii() and raw.isdigit():
        length = int(raw)
        if length > limit:
            return None
        return stream.read(length) if length else b""
    data = stream.read(limit + 1)  # no length given (chunked): read at most the limit
    return None if len(data) > limit else data


class WebhookFirst:
    """WSGI application: the webhook's path here, everything else to Django."""

    def __init__(self, django_app: WSGIHandler) -> None:
        self.django_app = django_app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.django_app(environ, start_response)
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            body = _body(environ)
            if body is None:
                status, answer = 413, b""
            else:
                status, answer = webhook_answer(
                    environ.get("REQUEST_METHOD", ""),
                    environ.get("HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN", ""),
                    body,
                )
        except Exception as exc:  # noqa: BLE001 - the database is down: Telegram retries a 503
            log.error("webhook could not store the update (%s)", type(exc).__name__)
            status, answer = 503, b""
        finally:
            signals.request_finished.send(sender=self.__class__)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))]
        if status == 405:
            headers.append(("Allow", "POST"))
        start_response(REASONS[status], headers)
        return [answer]
