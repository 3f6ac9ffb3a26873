"""The floor reference: a bare Django view that checks the secret header, parses the body and
does ONE ``INSERT`` (a plain ``StatEvent`` row: no encryption, no look-up), under the same
server, settings, middleware and database as Lifeline's webhook. Served with
``DJANGO_SETTINGS_MODULE=bench.bare_settings`` at ``/bench/bare/``; Lifeline's own URLs stay."""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lifeline.stats.models import StatEvent


@csrf_exempt
@require_POST
def bare_insert(request: HttpRequest) -> HttpResponse:
    header = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(header, settings.TELEGRAM_WEBHOOK_SECRET):
        return HttpResponse(status=404)
    data = json.loads(request.body)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return JsonResponse({"ok": False}, status=400)
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    StatEvent.objects.create(kind="bench.bare", channel="telegram", language="ru", hour=hour)
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/bare/", bare_insert, name="bench_bare"),
    path("", include("lifeline.urls")),
]
