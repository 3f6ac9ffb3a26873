"""One logging configuration, with a redaction filter on every handler."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from django.conf import settings

from lifeline.cases.errors import TransitionNotAllowed
from lifeline.core.logging import RedactingFilter, redact


def test_every_configured_handler_redacts() -> None:
    handlers: dict[str, Any] = settings.LOGGING["handlers"]  # type: ignore[assignment]
    assert handlers
    for name, handler in handlers.items():
        assert "redact" in handler.get("filters", []), name
    live = [h for h in logging.getLogger().handlers if h.get_name() in handlers]
    assert live
    assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in live)


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("caller +7 (999) 123-45-67 rang", "123-45-67"),
        ("telegram user 5123456789 wrote", "5123456789"),
        ("from 203.0.113.7 port 443", "203.0.113.7"),
        ("from 2001:db8::ff00:42:8329", "2001:db8::ff00:42:8329"),
        ("otp=123456 accepted", "123456"),
        ("password=hunter2hunter2", "hunter2"),
        ("codename: тихий-лес", "тихий-лес"),
        ("stored lf1:1:QUJDREVGR0hJSktMTU5PUFFS", "QUJDREVGR0hJSktMTU5PUFFS"),
        ("stored lf2:" + "ab" * 16 + ":QUJDREVGR0hJSktMTU5PUFFS", "QUJDREVGR0hJSktMTU5PUFFS"),
        ("born 1990-05-06", "1990-05-06"),
        ("mail ivan@example.org", "ivan@example.org"),
    ],
)
def test_redaction(text: str, leak: str) -> None:
    assert leak not in redact(text)


def test_ordinary_text_survives() -> None:
    text = "case.verified by verifier3 at 05:03:39, 12 cases, status ready"
    assert redact(text) == text


def _emit(logger: logging.Logger, handler: logging.Handler, *args: object, **kw: object) -> str:
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    logger.error(*args, **kw)  # type: ignore[arg-type]
    return stream.getvalue()


def test_the_real_handler_masks_arguments_and_exceptions() -> None:
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    old = handler.stream  # type: ignore[attr-defined]
    logger = logging.getLogger("lifeline.test")
    try:
        out = _emit(logger, handler, "call from %s, phone %s", "198.51.100.23", "+79991234567")
        assert "198.51.100.23" not in out
        assert "9991234567" not in out
        name = "".join(["Ив", "ан Петров"])  # as a value, not in the traceback's source lines
        try:
            int(name)
        except ValueError:
            out = _emit(logger, handler, "parse failed", exc_info=True)
        assert "Иван" not in out
        assert "ValueError: [message withheld]" in out
        assert "test_logging.py" in out
        try:
            raise TransitionNotAllowed("Case L-2026-000001 is Applied and cannot go to Ready.")
        except TransitionNotAllowed:
            out = _emit(logger, handler, "workflow refused", exc_info=True)
        assert "cannot go to Ready" in out  # Lifeline's own messages hold no personal data
    finally:
        handler.setStream(old)  # type: ignore[attr-defined]
