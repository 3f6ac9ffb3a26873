"""One logging filter between Lifeline and every log handler: nothing personal gets through.

Applied to every handler in ``LOGGING``. It renders the message, then masks what could identify a
person or open an account: addresses (IPv4/IPv6, e-mail), numbers of five digits or more (phone
numbers, Telegram ids, service numbers, TOTP codes), ciphertext tokens, and anything after a
``password=``/``token=``/``codename=`` style key. Exception messages are dropped unless the
exception is one of Lifeline's own, whose messages are written to hold no personal value;
tracebacks keep their frames (code, not data).

Request paths: a query string after a path is replaced as a whole (``?[query]``) in every
record; in records about requests (``django.request``, ``django.security.*``, server access
logs) each path segment that is not a literal word of Lifeline's URL patterns, a UUID or a short
number is replaced by ``[redacted]`` — a secret, a token or a name typed into a URL never
reaches a log, whatever the status.
"""

from __future__ import annotations

import logging
import re
import traceback
from types import TracebackType
from typing import Any

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"lf1:\d+:[A-Za-z0-9_\-]+"), "[sealed]"),
    (re.compile(r"lf2:[0-9a-f]{32}:[A-Za-z0-9_\-]+"), "[sealed]"),
    (
        re.compile(r"(?i)\b(password|passwd|secret|token|otp|code|codename|key)\b(\s*[=:]\s*)\S+"),
        r"\1\2[redacted]",
    ),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[email]"),
    # IPv6: the full eight groups, or any compressed form with "::" (not clock times).
    (re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![\w:])"), "[ip]"),
    (
        re.compile(
            r"(?<![\w:])(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?::"
            r"(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?(?![\w:])"
        ),
        "[ip]",
    ),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "[ip]"),
]
# A run of digits, possibly broken by spaces, dashes, dots or brackets, as people write phones.
_NUMBER = re.compile(r"\+?\d[\d\s\-().]{3,}\d")
# A query string after a path or URL: everything up to white space or a quote.
_QUERY = re.compile(r"(?P<path>/[^\s?#'\"<>]*)\?[^\s'\"<>]+")
# A path, alone or in an absolute URL, not inside a word or another path.
_PATH = re.compile(r"(?:(?P<origin>\bhttps?://[^/\s'\"<>]*)|(?<![\w/.:]))(?P<path>/[^\s'\"<>?#]*)")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHORT_NUMBER = re.compile(r"[0-9]{1,4}")
#: Loggers whose records describe requests (and name their paths).
REQUEST_LOGGERS = ("django.request", "django.security", "django.server", "uvicorn")
# Route words that appear in logged paths even if the URLconf cannot be read yet.
_BASE_ROUTE_WORDS = frozenset({"console", "telegram", "webhook", "cti", "events", "chat", "i18n"})
_route_words: frozenset[str] | None = None


def _mask_number(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return "[number]" if digits >= 5 else match.group(0)


def redact(text: str) -> str:
    text = _QUERY.sub(r"\g<path>?[query]", text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _NUMBER.sub(_mask_number, text)


def route_words() -> frozenset[str]:
    """The literal segments of every URL pattern (``console``, ``cases``, ``webhook`` ...)."""
    global _route_words
    if _route_words is not None:
        return _route_words
    try:
        from django.urls import get_resolver

        words: set[str] = set()
        stack: list[Any] = list(get_resolver().url_patterns)
        while stack:
            entry = stack.pop()
            route = getattr(entry.pattern, "_route", None)
            if isinstance(route, str):
                words.update(p for p in route.split("/") if p and "<" not in p)
            stack.extend(getattr(entry, "url_patterns", ()))
    except Exception:  # the URLconf is not importable yet (start-up): try again next time
        return _BASE_ROUTE_WORDS
    _route_words = frozenset(words | _BASE_ROUTE_WORDS)
    return _route_words


def _redact_segment(segment: str, words: frozenset[str]) -> str:
    if not segment or segment in words:
        return segment
    if _UUID.fullmatch(segment) or _SHORT_NUMBER.fullmatch(segment):
        return segment
    return "[redacted]"


def redact_paths(text: str) -> str:
    """Mask each path segment that is not one of Lifeline's own route words, a UUID or a short
    number (see the module docstring)."""
    words = route_words()

    def mask(match: re.Match[str]) -> str:
        path = "/".join(_redact_segment(s, words) for s in match.group("path").split("/"))
        return (match.group("origin") or "") + path

    return _PATH.sub(mask, text)


def _about_a_request(record: logging.LogRecord) -> bool:
    return record.name.startswith(REQUEST_LOGGERS) or hasattr(record, "request")


#: An exception class whose messages never carry personal data says so with this attribute
#: (CaseError, CryptoError): its message may be logged. Others' messages are withheld.
SAFE_MESSAGE_ATTRIBUTE = "lifeline_safe_message"


def format_exception_safely(
    exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
) -> str:
    """Frames of every exception in the chain, with messages only for Lifeline's own errors."""
    blocks: list[str] = []
    seen: set[int] = set()
    current = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        name = type(current).__qualname__
        message = (
            redact(str(current))
            if getattr(current, SAFE_MESSAGE_ATTRIBUTE, False)
            else "[message withheld]"
        )
        blocks.append(f"Traceback (most recent call last):\n{frames}{name}: {message}\n")
        current = current.__cause__ or current.__context__
    return "\nCaused by or during:\n".join(reversed(blocks))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = str(record.msg)
        if _about_a_request(record):
            message = redact_paths(message)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = format_exception_safely(*record.exc_info)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for attr in ("request", "client", "remote_addr"):
            if hasattr(record, attr):
                setattr(record, attr, None)
        return True
