"""One logging filter between Lifeline and every log handler: nothing personal gets through.

Applied to every handler in ``LOGGING``. It renders the message, then masks what could identify a
person or open an account: addresses (IPv4/IPv6, e-mail), numbers of five digits or more (phone
numbers, Telegram ids, service numbers, TOTP codes), ciphertext tokens, and anything after a
``password=``/``token=``/``codename=`` style key. Exception messages are dropped unless the
exception is one of Lifeline's own, whose messages are written to hold no personal value;
tracebacks keep their frames (code, not data).
"""

from __future__ import annotations

import logging
import re
import traceback
from types import TracebackType

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"lf1:\d+:[A-Za-z0-9_\-]+"), "[sealed]"),
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


def _mask_number(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return "[number]" if digits >= 5 else match.group(0)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _NUMBER.sub(_mask_number, text)


def _safe_exception_types() -> tuple[type[BaseException], ...]:
    from lifeline.cases.errors import CaseError
    from lifeline.core.crypto import CryptoError

    return (CaseError, CryptoError)


def format_exception_safely(
    exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
) -> str:
    """Frames of every exception in the chain, with messages only for Lifeline's own errors."""
    safe = _safe_exception_types()
    blocks: list[str] = []
    seen: set[int] = set()
    current = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        name = type(current).__qualname__
        message = redact(str(current)) if isinstance(current, safe) else "[message withheld]"
        blocks.append(f"Traceback (most recent call last):\n{frames}{name}: {message}\n")
        current = current.__cause__ or current.__context__
    return "\nCaused by or during:\n".join(reversed(blocks))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = str(record.msg)
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
