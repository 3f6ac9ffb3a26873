"""The Telegram webhook: store the update, then answer 200 — never the other way round.

Authenticated only by the ``X-Telegram-Bot-Api-Secret-Token`` header (compared in constant
time); anything else gets a bare 404, as if nothing were here. Telegram redelivers an update
until it gets a 2xx, so a well-formed update of a kind Lifeline does not handle (a poll answer,
a chat member change, ...) is acknowledged with 200 and dropped; only a body that is not a
Telegram update at all, or a handled update that does not parse, gets a 400.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from lifeline.core.parsing import MalformedInput, header_bytes, json_body

from . import telegram_accept

#: Telegram's update ids are positive and, like every id it sends, fit in 52 bits.
MAX_UPDATE_ID = 2**53 - 1


def _authentic(request: HttpRequest) -> bool:
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    # Bytes on both sides: compare_digest refuses str that is not ASCII.
    return bool(expected) and hmac.compare_digest(header_bytes(given), header_bytes(expected))


def _bad_request() -> JsonResponse:
    return JsonResponse({"ok": False, "error": "not a Telegram update"}, status=400)


@csrf_exempt  # authenticated by the secret-token header instead
def telegram_webhook(request: HttpRequest) -> HttpResponse:
    if not _authentic(request):
        return HttpResponse(status=404)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        data = json_body(request.body)
    except MalformedInput:
        return _bad_request()
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if (
        not isinstance(update_id, int)
        or isinstance(update_id, bool)
        or not 0 <= update_id <= MAX_UPDATE_ID
    ):
        return _bad_request()
    try:
        # False for a kind Lifeline does not read (a poll answer, ...): acknowledged, dropped.
        telegram_accept.accept(data)
    except telegram_accept.NotAnUpdate:
        return _bad_request()
    # Committed (autocommit): Telegram may now forget it.
    return JsonResponse({"ok": True})
