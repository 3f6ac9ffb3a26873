"""Crafted input never gives a 5xx (issue #10): property-based tests over every public endpoint
and every console page, anonymous and as each role.

Hypothesis throws random bytes, random JSON (deep nesting, huge integers, NaN, lone
surrogates), odd Unicode (NUL, "²", right-to-left marks), hostile headers and cookies, and
random query parameters. Django's test client with ``raise_request_exception=False`` turns an
unhandled exception into the 500 a visitor would get, which is what is asserted against.

Also here: every URL outside ``/console/`` is on an explicit allowlist, so a new public endpoint
cannot appear unnoticed.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.phone import cti
from tests.console.test_access_matrix import (
    MATRIX,
    ROLES,
    url_for,
    world,  # noqa: F401 - a fixture, used by name
)
from tests.factories import Staff, login_verified

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "no-5xx-webhook-secret-0123456789abcdefABCDEF"
PBX_SECRET = b"no-5xx-pbx-secret"

#: Every URL outside the console, and why it is public. Adding one means adding a row here.
PUBLIC_ROUTES: dict[str, str] = {
    "": "the public home page",
    "chat/": "the anonymous web chat",
    "chat/transcript/": "the web chat's transcript, refreshed by its script",
    "chat/end/": "the web chat's 'forget this device'",
    "exit/": "the quick exit: a redirect to a neutral site",
    "figures/": "the published figures (aggregates, small counts hidden, delayed)",
    "p/<slug:slug>/": "the information pages (how it works, guarantees, safety, ...)",
    "i18n/setlang/": "Django's language switch (public and console pages)",
    "telegram/webhook/": "Telegram's webhook (secret-token header)",
    "cti/events/": "the telephone exchange's events (HMAC-signed)",
}
PUBLIC_PATHS = ["/" + route for route in PUBLIC_ROUTES]

#: Modest by default (the file runs in well under a minute); raise it to hunt:
#: ``LIFELINE_FUZZ_EXAMPLES=2000 pytest tests/test_no_5xx.py``.
FAST = hypothesis_settings(
    max_examples=int(os.environ.get("LIFELINE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

# --- Strategies -------------------------------------------------------------------------------

ODD = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "²",
    "٣",
    "1²",
    "\u202eevil",
    "\u200f",
    "\ufeff",
    "ж",
    "Иван Петров",
    "9" * 40,
    "-1",
    "0",
    str(2**63),
    str(-(2**63) - 1),
    "1e309",
    "NaN",
    "none",
    "null",
    "true",
    "[]",
    "{}",
    "../../etc/passwd",
    "%00",
    "\r\n",
    "<script>alert(1)</script>",
    "'",
    '"',
    "L-2026-000001",
    "+79991234567",
    "00000000-0000-0000-0000-000000000000",
    "x" * 3000,
]
# Text a browser could send in a form or query string: no lone surrogates (they cannot be
# encoded, by the test client or anyone else).
odd_text = st.one_of(
    st.sampled_from(ODD),
    st.text(max_size=30),
    st.lists(st.one_of(st.sampled_from(ODD), st.text(max_size=5)), max_size=4).map("".join),
)
# Text inside JSON may also hold lone surrogates ("\ud800" escapes).
json_text = st.one_of(odd_text, st.text(alphabet=st.characters(), max_size=10))
big_int = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 2**53, 2**53 - 1, 0, -1, 2**64]),
)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), big_int, st.floats(), json_text),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=15,
)


def _deep(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


deep_json = st.one_of(
    st.integers(min_value=30, max_value=6000).map(_deep),
    st.integers(min_value=30, max_value=6000).map(
        lambda n: '{"update_id": 1, "message": ' + _deep(n) + "}"
    ),
)

user = st.fixed_dictionaries(
    {"id": big_int, "is_bot": st.booleans(), "first_name": odd_text},
    optional={"language_code": odd_text},
)
chat = st.fixed_dictionaries(
    {"id": big_int, "type": st.sampled_from(["private", "group", "channel", "x"])}
)
message = st.fixed_dictionaries(
    {"message_id": big_int, "date": big_int, "chat": chat},
    optional={
        "from": user,
        "text": json_text,
        "contact": st.fixed_dictionaries({"phone_number": json_text, "first_name": odd_text}),
        "location": st.fixed_dictionaries({"latitude": st.floats(), "longitude": st.floats()}),
        "voice": st.fixed_dictionaries(
            {"file_id": odd_text, "file_unique_id": odd_text, "duration": big_int}
        ),
    },
)
callback_query = st.fixed_dictionaries(
    {"id": odd_text, "from": user, "chat_instance": odd_text},
    optional={"data": st.one_of(odd_text, st.just("b:²"), st.just("b:99999")), "message": message},
)
HANDLED = ("message", "edited_message", "callback_query")
UNHANDLED = ("poll_answer", "poll", "my_chat_member", "chat_join_request", "future_kind")
update_id = st.one_of(big_int, st.integers(min_value=0, max_value=2**31))
telegram_update = st.one_of(
    st.builds(lambda i, m: {"update_id": i, "message": m}, update_id, message),
    st.builds(lambda i, m: {"update_id": i, "edited_message": m}, update_id, message),
    st.builds(lambda i, q: {"update_id": i, "callback_query": q}, update_id, callback_query),
    st.builds(
        lambda i, k, v: {"update_id": i, k: v}, update_id, st.sampled_from(UNHANDLED), json_value
    ),
    st.dictionaries(json_text, json_value, max_size=4),
)
cti_event = st.fixed_dictionaries(
    {
        "event": st.one_of(st.sampled_from(["newCall", "answer", "hangup"]), json_value),
        "callId": st.one_of(st.sampled_from(["c1", "c2", "c3"]), json_value),
    },
    optional={
        "from": st.one_of(st.sampled_from(["+79990001122", "8 999 000-11-22"]), json_value),
        "to": json_value,
        "queue": json_value,
        "direction": json_value,
        "user": json_value,
        "cause": json_value,
    },
)
json_body = st.one_of(telegram_update, cti_event, json_value).map(json.dumps)
form_body = st.dictionaries(
    st.one_of(
        st.sampled_from(
            ["text", "choice", "message_id", "language", "next", "csrfmiddlewaretoken"]
        ),
        odd_text,
    ),
    odd_text,
    max_size=5,
).map(lambda d: urlencode(d))
body = st.one_of(
    json_body,
    deep_json,
    form_body,
    st.binary(max_size=300),
    st.just(b"\xff\xfe\x00garbage"),
)
content_type = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "text/plain",
        "application/json; charset=koi8-r",
        "application/x-www-form-urlencoded; charset=x-unknown",
    ]
)
query = st.dictionaries(
    st.one_of(
        st.sampled_from(
            ["q", "status", "channel", "assignee", "partial", "next", "expired", "language", "x"]
        ),
        odd_text,
    ),
    odd_text,
    max_size=4,
)
# Cookie values as a browser (or an attacker) may send them, including a broken header.
cookie_value = st.one_of(odd_text.filter(lambda v: ";" not in v), st.text(max_size=300))
cookies = st.fixed_dictionaries(
    {},
    optional={
        "lifeline_chat": cookie_value,
        "csrftoken": cookie_value,
        "django_language": st.one_of(st.sampled_from(["ru", "uk", "en", "de", ""]), cookie_value),
        "lifeline_staff": cookie_value,
        "sessionid": cookie_value,
    },
)
header_value = st.one_of(odd_text, st.text(max_size=80))
headers = st.fixed_dictionaries(
    {},
    optional={
        "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": st.one_of(st.just(WEBHOOK_SECRET), header_value),
        "HTTP_X_LIFELINE_PBX": st.one_of(st.just("office"), header_value),
        "HTTP_X_LIFELINE_TIMESTAMP": header_value,
        "HTTP_X_LIFELINE_SIGNATURE": header_value,
        "HTTP_ACCEPT_LANGUAGE": header_value,
        "HTTP_REFERER": header_value,
        "HTTP_ORIGIN": header_value,
        "HTTP_HX_REQUEST": header_value,
    },
)


def wire(value: str) -> str:
    """A header value as a WSGI/ASGI server hands it to Django: the UTF-8 bytes sent, decoded
    as ISO-8859-1 (PEP 3333)."""
    return value.encode("utf-8", "surrogatepass").decode("iso-8859-1")


def cookie_header(values: dict[str, str], *, raw: str = "") -> str:
    parts = [f"{name}={value}" for name, value in values.items()]
    return wire("; ".join([*parts, raw] if raw else parts))


def on_the_wire(extra: dict[str, str]) -> dict[str, Any]:
    return {name: wire(value) for name, value in extra.items()}


@pytest.fixture(autouse=True)
def _secrets(settings: SettingsWrapper) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.LIFELINE_PBX_SECRETS = f"office:{PBX_SECRET.decode()}"


def _client() -> Client:
    return Client(raise_request_exception=False)


def _describe(response: Any) -> str:
    return f"{response.status_code} {response.content[:300]!r}"


# --- Public endpoints -------------------------------------------------------------------------


@FAST
@given(
    path=st.sampled_from(PUBLIC_PATHS),
    method=st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "HEAD", "OPTIONS"]),
    data=body,
    ctype=content_type,
    params=query,
    extra=headers,
    jar=cookies,
    raw_cookie=st.one_of(st.just(""), odd_text),
    sign=st.booleans(),
)
def test_public_endpoints_never_answer_5xx(
    path: str,
    method: str,
    data: str | bytes,
    ctype: str,
    params: dict[str, str],
    extra: dict[str, str],
    jar: dict[str, str],
    raw_cookie: str,
    sign: bool,
) -> None:
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    if sign:  # a correctly signed CTI request, so the event handling itself is exercised
        timestamp = str(int(time.time()))
        extra = extra | {
            "HTTP_X_LIFELINE_PBX": "office",
            "HTTP_X_LIFELINE_TIMESTAMP": timestamp,
            "HTTP_X_LIFELINE_SIGNATURE": cti.sign(PBX_SECRET, timestamp, raw),
        }
    target = f"{path}?{urlencode(params)}" if params else path
    response = _client().generic(
        method,
        target,
        data=raw,
        content_type=ctype,
        HTTP_COOKIE=cookie_header(jar, raw=raw_cookie),
        **on_the_wire(extra),
    )
    assert response.status_code < 500, (method, target, _describe(response))


@FAST
@given(update=telegram_update, secret=st.one_of(st.just(WEBHOOK_SECRET), header_value))
def test_webhook_answers_by_its_contract(update: dict[str, Any], secret: str) -> None:
    """Wrong secret: 404. Right secret: 200 for any well-formed update of a kind Lifeline does
    not read (a 4xx would be redelivered forever), 200 or 400 otherwise — never a 5xx."""
    response = _client().post(
        "/telegram/webhook/",
        data=json.dumps(update),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=wire(secret),
    )
    if secret != WEBHOOK_SECRET:
        assert response.status_code == 404
        assert not response.content
        return
    uid = update.get("update_id")
    unhandled = (
        isinstance(uid, int)
        and not isinstance(uid, bool)
        and 0 <= uid < 2**53
        and not any(update.get(kind) is not None for kind in HANDLED)
        and _only_safe_values(update)
    )
    if unhandled:
        assert response.status_code == 200, _describe(response)
    else:
        assert response.status_code in (200, 400), _describe(response)


def _only_safe_values(value: Any, depth: int = 1) -> bool:
    """Within what any JSON store holds: no huge int, non-finite float, lone surrogate."""
    if depth > 32:
        return False
    if isinstance(value, dict):
        return all(
            _only_safe_values(k, depth) and _only_safe_values(v, depth + 1)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_only_safe_values(v, depth + 1) for v in value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return abs(value) < 2**53
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    try:
        str(value).encode()
    except UnicodeEncodeError:
        return False
    return True


@FAST
@given(event=cti_event, sign=st.booleans(), stale=st.booleans())
def test_cti_answers_by_its_contract(event: dict[str, Any], sign: bool, stale: bool) -> None:
    """Unsigned or stale: 401/403. Signed: 200 or 400 — never a 5xx."""
    raw = json.dumps(event).encode("utf-8", "surrogatepass")
    timestamp = str(int(time.time()) - (3600 if stale else 0))
    signature = cti.sign(PBX_SECRET if sign else b"wrong", timestamp, raw)
    response = _client().post(
        "/cti/events/",
        data=raw,
        content_type="application/json",
        HTTP_X_LIFELINE_PBX="office",
        HTTP_X_LIFELINE_TIMESTAMP=timestamp,
        HTTP_X_LIFELINE_SIGNATURE=signature,
    )
    if stale:
        assert response.status_code == 401, _describe(response)
    elif not sign:
        assert response.status_code == 403, _describe(response)
    else:
        assert response.status_code in (200, 400), _describe(response)


# --- Console pages ----------------------------------------------------------------------------

CONSOLE_GET_PAGES = sorted(name for name, methods in MATRIX.items() if "GET" in methods)


@pytest.fixture
def sessions(world: dict[str, Any]) -> dict[str, str]:  # noqa: F811 - the imported fixture
    """One verified session per role (session cookie value), made once per test."""
    staff: Staff = world["staff"]
    out = {}
    for role in ROLES:
        client = Client()
        login_verified(client, getattr(staff, role))
        out[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return out


@FAST
@given(
    name=st.sampled_from(CONSOLE_GET_PAGES),
    role=st.sampled_from([None, *ROLES]),
    params=query,
    jar=cookies,
    extra=headers,
)
def test_console_pages_never_answer_5xx(
    world: dict[str, Any],  # noqa: F811 - the imported fixture
    sessions: dict[str, str],
    name: str,
    role: str | None,
    params: dict[str, str],
    jar: dict[str, str],
    extra: dict[str, str],
) -> None:
    cookie = cookie_header(jar)  # anonymous, or a forged session cookie from ``jar``
    if role is not None:  # the real session last: a later duplicate name wins
        cookie = "; ".join(
            filter(None, [cookie, f"{settings.SESSION_COOKIE_NAME}={sessions[role]}"])
        )
    url = url_for(name, world)
    response = _client().get(url, params, HTTP_COOKIE=cookie, **on_the_wire(extra))
    assert response.status_code < 500, (name, role, params, _describe(response))
    if role is not None and response.status_code == 302:
        # A signed-in session stays signed in: never sent back to the login page.
        assert not response["Location"].startswith("/console/login/"), (name, role)


# --- Nothing public appears unnoticed ---------------------------------------------------------


def _routes(patterns: list[Any], prefix: str = "") -> list[str]:
    found: list[str] = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _routes(list(entry.url_patterns), route)
        elif isinstance(entry, URLPattern):
            found.append(route)
    return found


def test_every_url_outside_the_console_is_on_the_allowlist() -> None:
    routes = _routes(list(get_resolver().url_patterns))
    assert routes, "no URL patterns found"
    public = sorted(r for r in routes if not r.startswith("console/"))
    assert public == sorted(PUBLIC_ROUTES), (
        "a URL outside /console/ appeared or went away: add it to PUBLIC_ROUTES with the "
        "reason it is public (and to the fuzzing above), or move it into the console"
    )
    # Everything else is the console's, behind its middleware.
    assert all(r.startswith("console/") for r in routes if r not in PUBLIC_ROUTES)
