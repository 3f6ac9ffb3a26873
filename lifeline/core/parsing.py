"""Reading what a request carries, defensively: malformed input is a ``ValueError``, never a crash.

Everything a client sends — bodies, headers, query strings, form fields, cookies — is hostile
until parsed here. ``str.isdigit()`` is not a check (``"²".isdigit()`` is true and ``int("²")``
fails); ``json.loads`` raises ``RecursionError`` on deep nesting and accepts integers no database
column holds, lone surrogates no encoder writes, and ``NaN``; PostgreSQL refuses NUL in text.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: Nesting deeper than this is not a real Telegram update or CTI event.
MAX_JSON_DEPTH = 32
#: Telegram promises identifiers fit in 52 bits (a double holds them exactly); so do ours.
MAX_JSON_INT = 2**53 - 1
#: Primary keys of ``AutoField``/``BigAutoField`` tables that a form may name.
MAX_OBJECT_ID = 2**31 - 1

_ASCII_DIGITS = re.compile(r"[0-9]+")
# Control characters except tab, line feed and carriage return (NUL above all: PostgreSQL
# refuses it in text columns).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class MalformedInput(ValueError):
    """The input is not what the endpoint accepts. The message holds no input value."""


def json_body(
    body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH, max_int: int = MAX_JSON_INT
) -> Any:
    """Parse a JSON document that is safe to store, log and hand on.

    Refused: invalid JSON or UTF-8, nesting deeper than ``max_depth``, integers beyond
    ``±max_int``, non-finite numbers, and strings (keys included) with lone surrogates.
    """
    try:
        data = json.loads(body)
    except RecursionError:
        raise MalformedInput("the JSON document is nested too deeply") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, too many digits in an int
        raise MalformedInput("the body is not JSON") from None
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise MalformedInput("the JSON document is nested too deeply")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if abs(value) > max_int:
                raise MalformedInput("a number in the JSON document is out of range")
        elif isinstance(value, float) and not math.isfinite(value):
            raise MalformedInput("a number in the JSON document is not finite")
    return data


def _check_text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedInput("a string in the JSON document is not valid Unicode") from None


def ascii_int(value: object, *, maximum: int, minimum: int = 0) -> int | None:
    """The integer spelled in ASCII digits by ``value``, if within bounds; otherwise None."""
    if not isinstance(value, str) or len(value) > len(str(maximum)):
        return None
    if not _ASCII_DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if minimum <= number <= maximum else None


def object_id(value: object) -> int | None:
    """A positive integer primary key from a form field or query parameter, or None."""
    return ascii_int(value, minimum=1, maximum=MAX_OBJECT_ID)


def clean_text(value: object, *, max_length: int) -> str:
    """Text for a clear (unencrypted) column or a database filter: control characters and
    lone surrogates dropped, cut to ``max_length``."""
    text = _CONTROL.sub("", value if isinstance(value, str) else str(value))
    text = text.encode("utf-8", "ignore").decode("utf-8")
    return text[:max_length]


def header_bytes(value: str) -> bytes:
    """A header value as bytes for a constant-time comparison, whatever characters it holds."""
    return value.encode("utf-8", "surrogatepass")


class ObjectIdConverter:
    """``<id:name>`` in a URL: a primary key the database can hold. A longer number is no match
    (a 404), never an overflow in the database driver (SQLite raised one: a 500)."""

    regex = "[0-9]{1,10}"

    def to_python(self, value: str) -> int:
        number = object_id(value)
        if number is None:
            raise ValueError(value)
        return number

    def to_url(self, value: int) -> str:
        return str(value)
