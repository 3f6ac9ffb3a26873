"""The anonymous public side. Nothing here may learn or keep who the visitor is: no IP address,
no user agent; the web chat knows a visitor only by a random token in an HttpOnly cookie."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifeline.channels import inbox, webchat
from lifeline.conversations.models import Message

RATE_PER_MINUTE = 20
RATE_PER_DAY = 300
COOKIE_AGE = 7 * 24 * 3600


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "public/home.html")


def _transcript(token: str | None) -> list[Message]:
    if not token:
        return []
    conversation = webchat.conversation_for(token)
    if conversation is None:
        return []
    return list(conversation.messages.order_by("created_at"))


def _context(request: HttpRequest, token: str | None, **extra: object) -> dict[str, object]:
    messages = _transcript(token)
    last = messages[-1] if messages else None
    buttons = last.buttons if last is not None and last.direction == "out" else None
    return {
        "messages": messages,
        "buttons": buttons if isinstance(buttons, list) else [],
        "waiting": bool(token) and webchat.pending(str(token)),
        "message_id": uuid.uuid4().hex,
        "max_text": webchat.MAX_TEXT,
        **extra,
    }


def _over_limit(token: str) -> bool:
    key = webchat.ordering_key(token)
    minute, day = f"chat:m:{key}", f"chat:d:{key}"
    cache.add(minute, 0, 60)
    cache.add(day, 0, 24 * 3600)
    return cache.incr(minute) > RATE_PER_MINUTE or cache.incr(day) > RATE_PER_DAY


@require_http_methods(["GET", "POST"])
def chat(request: HttpRequest) -> HttpResponse:
    token = request.COOKIES.get(webchat.COOKIE)
    if request.method == "GET":
        return render(request, "public/chat.html", _context(request, token))
    # A pressed answer button wins over whatever is in the text box.
    text = (request.POST.get("choice") or request.POST.get("text") or "").strip()
    message_id = (request.POST.get("message_id") or uuid.uuid4().hex)[:64]
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
    webchat.submit(
        token=new_token, message_id=message_id, text=text, language=get_language() or "ru"
    )
    # The event is committed; answer it now if we can (the worker would do it otherwise).
    inbox.process_all(webchat.ordering_key(new_token), limit=10)
    response = HttpResponseRedirect(reverse("public:chat") + "#end")
    if token is None:
        response.set_cookie(
            webchat.COOKIE,
            new_token,
            max_age=COOKIE_AGE,
            path="/chat/",
            httponly=True,
            samesite="Strict",
            secure=settings.SESSION_COOKIE_SECURE,
        )
    return response


@require_GET
def chat_transcript(request: HttpRequest) -> HttpResponse:
    """The transcript alone, for the page's refresh script."""
    token = request.COOKIES.get(webchat.COOKIE)
    return render(request, "public/_transcript.html", _context(request, token))


@require_POST
def chat_end(request: HttpRequest) -> HttpResponse:
    """Forget this device: the cookie goes (the conversation stays for the operators)."""
    response = HttpResponseRedirect(reverse("public:chat"))
    response.delete_cookie(webchat.COOKIE, path="/chat/", samesite="Strict")
    return response
