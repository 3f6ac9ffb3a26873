"""The Telegram webhook: store the update, then answer 200 — never the other way round."""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt  # authenticated by the path secret and the secret-token header instead
@require_POST
def telegram_webhook(request: HttpRequest, secret: str) -> HttpResponse:
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    header = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not expected or not (
        hmac.compare_digest(secret, expected) and hmac.compare_digest(header, expected)
    ):
        return HttpResponse(status=404)
    try:
        data = json.loads(request.body)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ValueError("no update_id")
        from . import telegram  # aiogram's types take seconds to import: only when needed

        telegram.store_update(data)
    except ValueError:
        return JsonResponse({"ok": False, "error": "not a Telegram update"}, status=400)
    # Committed (autocommit): Telegram may now forget it.
    return JsonResponse({"ok": True})
