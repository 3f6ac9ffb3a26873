"""The anonymous public side. Nothing here may learn or keep who the visitor is: no IP address,
no user agent; the web chat knows a visitor only by a random token in an HttpOnly cookie."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifeline.channels import inbox, webchat
from lifeline.core.db import serial_write_if_free

log = logging.getLogger(__name__)

RATE_PER_MINUTE = 20
RATE_PER_DAY = 300


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "public/home.html")


@dataclass(frozen=True)
class Line:
    """One transcript line as the page shows it."""

    id: uuid.UUID
    direction: str
    text: str
    secret: bool  # the code words, shown now and never again


def _transcript(token: str | None) -> tuple[list[Line], object]:
    if not token:
        return [], None
    conversation = webchat.conversation_for(token)
    if conversation is None:
        return [], None
    secrets = webchat.secrets_to_show(conversation)
    messages = list(conversation.messages.order_by("created_at"))
    lines = [
        Line(m.pk, m.direction, secrets.get(m.pk, m.text or ""), m.pk in secrets) for m in messages
    ]
    last = messages[-1] if messages else None
    buttons = last.buttons if last is not None and last.direction == "out" else None
    return lines, buttons


def _context(request: HttpRequest, token: str | None, **extra: object) -> dict[str, object]:
    lines, buttons = _transcript(token)
    return {
        "messages": lines,
        "buttons": buttons if isinstance(buttons, list) else [],
        "waiting": bool(token) and webchat.pending(str(token)),
        # An operator has it or will take it: without JavaScript nothing refreshes the page
        # (a timed reload would throw away what he is typing), so a button checks for replies.
        "operator_expected": bool(token) and webchat.operator_expected(str(token)),
        "message_id": uuid.uuid4().hex,
        "max_text": webchat.MAX_TEXT,
        **extra,
    }


def _token(request: HttpRequest) -> str | None:
    """The visitor's token, only if this server issued it."""
    return webchat.valid_token(request.COOKIES.get(webchat.COOKIE))


def _set_token(response: HttpResponse, token: str) -> None:
    # No max_age: the cookie ends with the browser session, so a seized phone keeps less.
    response.set_cookie(
        webchat.COOKIE,
        token,
        path="/chat/",
        httponly=True,
        samesite="Strict",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def _drop_bad_cookie(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if webchat.COOKIE in request.COOKIES and _token(request) is None:
        response.delete_cookie(webchat.COOKIE, path="/chat/", samesite="Strict")
    return response


def _over_limit(token: str) -> bool:
    key = webchat.ordering_key(token)
    minute, day = f"chat:m:{key}", f"chat:d:{key}"
    cache.add(minute, 0, 60)
    cache.add(day, 0, 24 * 3600)
    return cache.incr(minute) > RATE_PER_MINUTE or cache.incr(day) > RATE_PER_DAY


@never_cache
@require_http_methods(["GET", "POST"])
def chat(request: HttpRequest) -> HttpResponse:
    token = _token(request)
    if request.method == "GET":
        return _drop_bad_cookie(
            request, render(request, "public/chat.html", _context(request, token))
        )
    # A pressed answer button wins over whatever is in the text box.
    text = (request.POST.get("choice") or request.POST.get("text") or "").strip()
    message_id = webchat.message_id_or_new(request.POST.get("message_id"))
    error, status = "", 400
    if not text:
        error = _("Please write a message first.")
    elif len(text) > webchat.MAX_TEXT:
        error = _(
            "This message is too long. Please split it into shorter ones "
            "(at most %(limit)s characters)."
        ) % {"limit": webchat.MAX_TEXT}
    new_token = token or webchat.new_token()
    if not error and _over_limit(new_token):
        error, status = (
            _(
                "You are writing faster than we can read. Please wait a minute and "
                "send it again — your text is still in the box."
            ),
            429,
        )
    if error:
        # Nothing typed is lost: the text goes back into the box.
        return render(
            request,
            "public/chat.html",
            _context(request, token, error=error, draft=text),
            status=status,
        )
    try:
        webchat.submit(
            token=new_token, message_id=message_id, text=text, language=get_language() or "ru"
        )
    except DatabaseError:
        log.warning("web chat message not stored: the database is busy")
        busy = _(
            "We are very busy right now and could not take your message. Please press "
            "Send again in a moment — your text is still in the box."
        )
        return render(
            request,
            "public/chat.html",
            _context(request, token, error=busy, draft=text),
            status=503,
        )
    # The event is committed; answer it now if nobody else is writing (the worker would do it
    # otherwise, a moment later). A failure here loses nothing: the event waits in the inbox.
    with serial_write_if_free() as free:
        if free:
            try:
                inbox.process_all(webchat.ordering_key(new_token), limit=10)
            except DatabaseError:
                log.warning("web chat message stored; the worker will answer it")
    response = HttpResponseRedirect(reverse("public:chat") + "#end")
    if token is None:  # none, or one this server did not issue: a fresh one replaces it
        _set_token(response, new_token)
    return response


@never_cache
@require_GET
def chat_transcript(request: HttpRequest) -> HttpResponse:
    """The transcript alone, for the page's refresh script."""
    token = _token(request)
    return _drop_bad_cookie(
        request, render(request, "public/_transcript.html", _context(request, token))
    )


@never_cache
@require_POST
def chat_end(request: HttpRequest) -> HttpResponse:
    """Forget this device: the public cookies go (the conversation stays for the operators)
    and the browser leaves for a neutral site."""
    response = HttpResponseRedirect(settings.LIFELINE_NEUTRAL_URL)
    response.delete_cookie(webchat.COOKIE, path="/chat/", samesite="Strict")
    response.delete_cookie(settings.CSRF_COOKIE_NAME, path=settings.CSRF_COOKIE_PATH)
    response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH)
    return response
