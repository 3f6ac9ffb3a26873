"""The Telegram webhook: store the update, then answer 200 — never the other way round.

Authenticated only by the ``X-Telegram-Bot-Api-Secret-Token`` header (compared in constant
time); anything else gets a bare 404, as if nothing were here. Telegram redelivers an update
until it gets a 2xx, so a well-formed update of a kind Lifeline does not handle (a poll answer,
a chat member change, ...) is acknowledged with 200 and dropped; only a body that is not a
Telegram update at all, or a handled update that does not parse, gets a 400.

:func:`webhook_answer` is the whole decision; it is served two ways: by the Django view below
(the embedded default's ASGI server, tests) and, in production, by
:mod:`lifeline.channels.webhook_wsgi` in front of Django, which skips the middleware stack
(sessions, authentication, OTP, axes: none of it applies to a request authenticated by a header).
"""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from lifeline.core.parsing import MalformedInput, header_bytes, json_body

from . import telegram_accept

#: Telegram's update ids are positive and, like every id it sends, fit in 52 bits.
MAX_UPDATE_ID = 2**53 - 1
OK = json.dumps({"ok": True}).encode()
NOT_AN_UPDATE = json.dumps({"ok": False, "error": "not a Telegram update"}).encode()


def authentic(given: str) -> bool:
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    # Bytes on both sides: compare_digest refuses str that is not ASCII.
    return bool(expected) and hmac.compare_digest(header_bytes(given), header_bytes(expected))


def webhook_answer(method: str, secret: str, body: bytes) -> tuple[int, bytes]:
    """(status, JSON body) for one webhook request; the update is committed before a 200."""
    if not authentic(secret):
        return 404, b""
    if method != "POST":
        return 405, b""
    try:
        data = json_body(body)
    except MalformedInput:
        return 400, NOT_AN_UPDATE
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if (
        not isinstance(update_id, int)
        or isinstance(update_id, bool)
        or not 0 <= update_id <= MAX_UPDATE_ID
    ):
        return 400, NOT_AN_UPDATE
    try:
        # False for a kind Lifeline does not read (a poll answer, ...): acknowledged, dropped.
        telegram_accept.accept(data)
    except telegram_accept.NotAnUpdate:
        return 400, NOT_AN_UPDATE
    # Committed (autocommit): Telegram may now forget it.
    return 200, OK


@csrf_exempt  # authenticated by the secret-token header instead
def telegram_webhook(request: HttpRequest) -> HttpResponse:
    secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    status, body = webhook_answer(request.method or "", secret, request.body)
    response = HttpResponse(body, status=status, content_type="application/json")
    if status == 405:
        response["Allow"] = "POST"
    return response
