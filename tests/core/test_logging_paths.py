"""Request paths in logs: no secret, token or personal value survives in a path or query string."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.test import Client

from lifeline.core.logging import redact, redact_paths, route_words

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "Zq8vK2xP9tLmW4rB7nYc3HdF6gJsA1eU"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the real, configured console handler writes (its redacting filter included)."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    old = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        handler.setStream(old)  # type: ignore[attr-defined]


def test_a_404_on_a_secret_like_path_logs_no_secret(log_output: io.StringIO) -> None:
    client = Client(raise_request_exception=False)
    response = client.post(f"/telegram/webhook/{WEBHOOK_SECRET}/", data="{}", content_type="x/y")
    assert response.status_code == 404
    response = client.get(
        "/chat/Иван-Петров/ab12CD34ef56GH78/",
        {"phone": "+79991234567", "token": "t0k3n-value", "name": "Иван"},
    )
    assert response.status_code == 404
    out = log_output.getvalue()
    assert "Not Found" in out  # django.request did log both
    for leak in (WEBHOOK_SECRET, "Иван", "Петров", "ab12CD34ef56GH78", "9991234567", "t0k3n"):
        assert leak not in out, leak
    assert "/telegram/webhook/[redacted]/" in out
    assert "/chat/[redacted]/[redacted]/" in out


def test_a_400_in_the_console_logs_no_query_string(log_output: io.StringIO) -> None:
    from lifeline.core.models import Role
    from tests.factories import create_user, login_verified

    client = Client(raise_request_exception=False)
    login_verified(client, create_user(Role.SUPERVISOR))
    assert client.get("/console/cases/", {"assignee": "²", "q": "Сидоров"}).status_code == 400
    out = log_output.getvalue()
    assert "Bad Request: /console/cases/" in out
    assert "Сидоров" not in out
    assert "Traceback" not in out  # a malformed parameter is not an error of ours


def test_route_words_come_from_the_urlconf() -> None:
    words = route_words()
    assert {"console", "cases", "telegram", "webhook", "cti", "events", "search"} <= words
    assert not any("<" in w for w in words)


@pytest.mark.parametrize(
    ("text", "kept", "leak"),
    [
        ("Not Found: /telegram/webhook/SECRETsecret123/", "/telegram/webhook/", "SECRET"),
        ("Not Found: /console/Петров/", "/console/", "Петров"),
        ("Not Found: /console/ivanov/", "/console/", "ivanov"),
        ("Forbidden: http://testserver/chat/abcDEF123xyz/", "http://testserver/chat/", "abcDEF"),
        ("GET /console/cases/?q=Петров&t=1 404", "/console/cases/?[query]", "Петров"),
    ],
)
def test_request_paths_are_masked(text: str, kept: str, leak: str) -> None:
    out = redact(redact_paths(text))
    assert kept in out
    assert leak not in out


def test_uuids_and_route_words_survive() -> None:
    text = "Not Found: /console/cases/5f0c2b7e-ad1a-4c3e-bb2f-0a9e1dcc6b54/action/"
    assert redact_paths(text) == text


def test_query_strings_are_masked_in_every_record() -> None:
    assert redact("redirect to /console/search/?q=secret") == "redirect to /console/search/?[query]"
    assert redact("Is this all? yes") == "Is this all? yes"
