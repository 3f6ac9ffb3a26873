"""Production's WSGI entry answers the webhook ahead of Django's middleware (no session, no
authentication, no OTP or axes work) with the same answers as the view; other paths reach
Django unchanged."""

from __future__ import annotations

import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.wsgi import get_wsgi_application
from django.db import DatabaseError
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.channels import telegram_accept
from lifeline.channels.models import InboundEvent
from lifeline.channels.webhook_wsgi import WebhookFirst
from tests.channels.fake_telegram import update

# Real request signals close and reopen connections: outside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "wsgi-test-secret-0123456789"


@pytest.fixture
def app(settings: SettingsWrapper) -> WebhookFirst:
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1"]
    return WebhookFirst(get_wsgi_application())


def call(
    app: Any,
    path: str,
    *,
    method: str = "POST",
    body: bytes = b"",
    secret: str | None = SECRET,
    length: str | None = None,
) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {
        "PATH_INFO": path,
        "REQUEST_METHOD": method,
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)) if length is None else length,
        "CONTENT_TYPE": "application/json",
        "HTTP_HOST": "testserver",
    }
    if secret is not None:
        environ["HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"] = secret
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    chunks = app(environ, start_response)
    content = b"".join(chunks)
    close = getattr(chunks, "close", None)
    if close:
        close()
    return seen["status"], seen["headers"], content


def test_an_update_is_stored_and_acknowledged_without_the_middleware(app: WebhookFirst) -> None:
    status, headers, content = call(
        app, "/telegram/webhook/", body=json.dumps(update(41, 5001, "Алло")).encode()
    )
    assert status == "200 OK"
    assert json.loads(content) == {"ok": True}
    assert InboundEvent.objects.filter(external_id="41").exists()
    # What the middleware adds to every Django answer is absent: it did not run.
    for header in ("Content-Security-Policy", "X-Frame-Options", "Vary", "Set-Cookie"):
        assert header not in headers
    # The same request through Django (the view) is answered alike, with the middleware's headers.
    status, headers, _ = call(
        app.django_app, "/telegram/webhook/", body=json.dumps(update(41, 5001, "Алло")).encode()
    )
    assert status.startswith("200")
    assert "X-Frame-Options" in headers
    assert InboundEvent.objects.filter(external_id="41").count() == 1


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"secret": None}, "404"),
        ({"secret": "wrong"}, "404"),
        ({"secret": "жжж"}, "404"),
        ({"method": "GET"}, "405"),
        ({"body": b"{not json"}, "400"),
        ({"body": b"[" * 5000}, "400"),
        ({"body": json.dumps({"update_id": 2**63}).encode()}, "400"),
        ({"body": b"x" * 3_000_000}, "413"),
        ({"body": b"{}", "length": "999999999"}, "413"),
        ({"body": b"{}", "length": "²"}, "400"),
    ],
)
def test_crafted_requests_get_4xx(app: WebhookFirst, kwargs: dict[str, Any], expected: str) -> None:
    status, headers, _ = call(app, "/telegram/webhook/", **kwargs)
    assert status.startswith(expected), status
    if expected == "405":
        assert headers["Allow"] == "POST"
    assert not InboundEvent.objects.exists()


def test_a_database_failure_is_a_503_so_telegram_retries(
    app: WebhookFirst, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(data: dict[str, Any]) -> bool:
        raise DatabaseError("connection refused")

    monkeypatch.setattr(telegram_accept, "accept", down)
    status, _, _ = call(app, "/telegram/webhook/", body=json.dumps(update(42, 5001, "x")).encode())
    assert status.startswith("503")


def test_other_paths_reach_django(app: WebhookFirst) -> None:
    status, headers, content = call(app, "/", method="GET", secret=None)
    assert status.startswith("200")
    assert "X-Frame-Options" in headers
    assert b"<html" in content.lower()
