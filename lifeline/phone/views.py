"""``POST /cti/events/``: the PBX's call events."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from lifeline.core.parsing import MalformedInput, json_body

from . import cti


@csrf_exempt  # authenticated by an HMAC signature instead
@require_POST
def events(request: HttpRequest) -> HttpResponse:
    try:
        pbx = cti.authenticate(request.headers, request.body)
        try:
            data = json_body(request.body)
        except MalformedInput as error:
            raise cti.CtiError(400, str(error)) from None
        answer = cti.handle(pbx, data)
    except cti.CtiError as error:
        return JsonResponse({"ok": False, "error": str(error)}, status=error.status)
    return JsonResponse(answer.body)
