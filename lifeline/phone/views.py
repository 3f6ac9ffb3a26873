"""``POST /cti/events/``: the PBX's call events."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import cti


@csrf_exempt  # authenticated by an HMAC signature instead
@require_POST
def events(request: HttpRequest) -> HttpResponse:
    try:
        pbx = cti.authenticate(request.headers, request.body)
        try:
            data = json.loads(request.body)
        except ValueError:
            raise cti.CtiError(400, "the body is not JSON") from None
        answer = cti.handle(pbx, data)
    except cti.CtiError as error:
        return JsonResponse({"ok": False, "error": str(error)}, status=error.status)
    return JsonResponse(answer.body)
