"""Tor Browser offers the onion service when a page says where it is (``Onion-Location``)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class OnionLocationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        onion = settings.LIFELINE_ONION_ADDRESS
        if (
            onion
            and not request.path.startswith(("/console/", "/telegram/", "/cti/"))
            and response.get("Content-Type", "").startswith("text/html")
        ):
            # The path only (a query could carry something the visitor typed), percent-encoded:
            # a crafted path with CR/LF must not break or inject a header.
            response["Onion-Location"] = f"http://{onion}{quote(request.path, safe='/-._~')}"
        return response
