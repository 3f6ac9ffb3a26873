"""The anonymous public side. Nothing here may learn or keep who the visitor is: no IP address,
no user agent; the web chat knows a visitor only by a random token in an HttpOnly cookie."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
    require_safe,
)

from lifeline.channels import inbox, webchat
from lifeline.contacts import blocks
from lifeline.conversations.models import Conversation
from lifeline.core import limits
from lifeline.core.channels import Channel
from lifeline.core.db import serial_write, serial_write_if_free
from lifeline.stats import figures
from lifeline.stats.services import visit_record

from . import pages

log = logging.getLogger(__name__)

RATE_PER_MINUTE = 20
RATE_PER_DAY = 300


def _count(request: HttpRequest, page: str) -> None:
    """One more visit to ``page`` (per day, page, language, country): nothing about the
    visitor is read but his page's language and, if configured, a trusted proxy's country. On
    SQLite a busy write turn skips the count rather than slow the page (a floor under load)."""
    header = settings.LIFELINE_COUNTRY_HEADER
    country = str(request.META.get(header, "")) if header else ""
    try:
        with serial_write_if_free() as free:
            if free:
                visit_record(page=page, language=get_language() or "", country=country)
    except DatabaseError:
        log.warning("visit not counted: the database is busy")


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    _count(request, "home")
    return render(request, "public/home.html")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form whose key the browser lost (a restart, Tor's "new identity", the chat ended in
    another tab): a clear page in his language, with the quick exit, instead of Django's."""
    return render(request, "csrf_failure.html", status=403)


@require_safe
def info_page(request: HttpRequest, slug: str) -> HttpResponse:
    found = pages.page(slug, get_language() or "ru")
    if found is None:
        raise Http404
    _count(request, slug)
    return render(request, "public/page.html", {"page": found})


@require_safe
def public_figures(request: HttpRequest) -> HttpResponse:
    """The figures the team publishes: totals and months, up to the end of the previous week
    (or earlier), of what a supervisor chose; any count below 10 is "fewer than 10"."""
    _count(request, "figures")
    found = figures.public_figures(timezone.now().date())
    table = figures.public_table(found)
    return render(
        request,
        "public/figures.html",
        {
            "until": found.until,
            "labels": table.labels,
            "totals": table.totals,
            "months": table.months,
            "withheld": table.withheld,
        },
    )


@never_cache
@require_GET
def quick_exit(request: HttpRequest) -> HttpResponse:
    """Leave at once for a neutral site, telling it nothing about where the visitor was."""
    response = HttpResponseRedirect(settings.LIFELINE_NEUTRAL_URL)
    response["Referrer-Policy"] = "no-referrer"
    return response


@dataclass(frozen=True)
class Line:
    """One transcript line as the page shows it."""

    id: uuid.UUID
    direction: str
    text: str
    secret: bool  # the code words, shown now and never again


def _transcript(conversation: Conversation | None, reveal: bool) -> tuple[list[Line], object]:
    if conversation is None:
        return [], None
    # Showing the code words is their one delivery (a write): not on an error page.
    secrets = webchat.secrets_to_show(conversation) if reveal else {}
    messages = list(conversation.messages.order_by("created_at"))
    lines = [
        Line(m.pk, m.direction, secrets.get(m.pk, m.text or ""), m.pk in secrets) for m in messages
    ]
    last = messages[-1] if messages else None
    buttons = last.buttons if last is not None and last.direction == "out" else None
    return lines, buttons


def _context(
    device: webchat.Device | None, *, reveal: bool = True, **extra: object
) -> dict[str, object]:
    identity = webchat.identity_for(device)
    conversation = webchat.open_conversation(identity) if identity is not None else None
    lines, buttons = _transcript(conversation, reveal)
    return {
        "messages": lines,
        "buttons": buttons if isinstance(buttons, list) else [],
        "waiting": identity is not None and webchat.pending(device),
        # An operator has it or will take it: without JavaScript nothing refreshes the page
        # (a timed reload would throw away what he is typing), so a button checks for replies.
        "operator_expected": webchat.operator_expected(conversation),
        "message_id": uuid.uuid4().hex,
        "max_text": webchat.MAX_TEXT,
        **extra,
    }


def _device(request: HttpRequest) -> webchat.Device | None:
    """The visitor's device, only if this server issued its cookie."""
    return webchat.read_cookie(request.COOKIES.get(webchat.COOKIE))


def _set_cookie(response: HttpResponse, device: webchat.Device) -> None:
    # No max_age: the cookie ends with the browser session, so a seized phone keeps less.
    response.set_cookie(
        webchat.COOKIE,
        device.cookie,
        path="/chat/",
        httponly=True,
        samesite="Strict",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def _drop_bad_cookie(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if webchat.COOKIE in request.COOKIES and _device(request) is None:
        response.delete_cookie(webchat.COOKIE, path="/chat/", samesite="Strict")
    return response


def _client_address(request: HttpRequest) -> str:
    """The visitor's address as the TLS proxy saw it (``LIFELINE_CLIENT_ADDRESS_HEADER``), or
    the socket's peer. Only ever hashed into a cache key (limits.network_hint), never kept."""
    header = settings.LIFELINE_CLIENT_ADDRESS_HEADER
    if header:
        value = request.headers.get(header, "")
        return value.split(",")[-1].strip()
    return str(request.META.get("REMOTE_ADDR", ""))


def _network_over_limit(request: HttpRequest, *, new_chat: bool) -> bool:
    """Per network, across every web process: messages a minute (``new_chat=False``), or new
    chats an hour (``new_chat=True``: counted once the chat is known to be new)."""
    hint = limits.network_hint(_client_address(request))
    if not hint:
        return False
    if new_chat:
        return not limits.hit(
            f"chat:net:new:{hint}",
            limit=settings.LIFELINE_NETWORK_NEW_CHATS_PER_HOUR,
            window=3600,
        )
    return not limits.hit(
        f"chat:net:m:{hint}", limit=settings.LIFELINE_NETWORK_MESSAGES_PER_MINUTE, window=60
    )


class _NewChatRefused(Exception):  # noqa: N818 - a signal within the view
    """Too many new chats from this network: the transaction is rolled back."""


def _over_limit(device: webchat.Device | None) -> bool:
    """Per conversation key, before anything is written (a new conversation has none yet)."""
    if device is None:
        return False
    key = device.ordering_key
    within_minute = limits.hit(f"chat:m:{key}", limit=RATE_PER_MINUTE, window=60)
    return not (within_minute and limits.hit(f"chat:d:{key}", limit=RATE_PER_DAY, window=86400))


def _busy_page(request: HttpRequest, device: webchat.Device | None, text: str) -> HttpResponse:
    log.warning("web chat message not stored: the database is busy")
    busy = _(
        "We are very busy right now and could not take your message. Please press "
        "Send again in a moment — your text is still in the box."
    )
    return render(
        request,
        "public/chat.html",
        _context(device, reveal=False, error=busy, draft=text),
        status=503,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def chat(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if webchat.COOKIE not in request.COOKIES:
            _count(request, "chat")  # a browser opening the chat, not each refresh or reply
        return _drop_bad_cookie(
            request, render(request, "public/chat.html", _context(_device(request)))
        )
    # A pressed answer button wins over whatever is in the text box.
    text = (request.POST.get("choice") or request.POST.get("text") or "").strip()
    message_id = webchat.message_id_or_new(request.POST.get("message_id"))
    error = ""
    if not text:
        error = _("Please write a message first.")
    elif len(text) > webchat.MAX_TEXT:
        error = _(
            "This message is too long. Please split it into shorter ones "
            "(at most %(limit)s characters)."
        ) % {"limit": webchat.MAX_TEXT}
    if error:
        # Nothing typed is lost: the text goes back into the box.
        return render(
            request,
            "public/chat.html",
            _context(_device(request), error=error, draft=text),
            status=400,
        )
    incoming = _device(request)
    if incoming is not None and blocks.blocked(Channel.WEB, incoming.ordering_key):
        # A chat a supervisor blocked: acknowledged like any message, and dropped unstored.
        return HttpResponseRedirect(reverse("public:chat") + "#end")
    slow_down = _(
        "You are writing faster than we can read. Please wait a minute and "
        "send it again — your text is still in the box."
    )
    if _over_limit(incoming) or _network_over_limit(request, new_chat=False):
        return render(
            request,
            "public/chat.html",
            _context(incoming, reveal=False, error=slow_down, draft=text),
            status=429,
        )
    # Every message swaps the device's secret (see webchat.Device): the cookie the browser
    # brought goes dead here, whoever else holds a copy of it. The swap and the message are
    # one transaction: if either fails, the old cookie stays good and nothing is half-done.
    language = get_language() or "ru"
    try:
        with serial_write(), transaction.atomic():
            device = webchat.device_post(
                request.COOKIES.get(webchat.COOKIE), message_id, language=language
            )
            # A new chat (no cookie, or one that no longer names a chat): counted per network
            # whatever the browser brought.
            new_chat = incoming is None or incoming.key != device.key
            if new_chat and _network_over_limit(request, new_chat=True):
                raise _NewChatRefused
            webchat.submit(device=device, message_id=message_id, text=text, language=language)
    except _NewChatRefused:
        return render(
            request,
            "public/chat.html",
            _context(incoming, reveal=False, error=slow_down, draft=text),
            status=429,
        )
    except DatabaseError:
        return _busy_page(request, incoming, text)
    if incoming is None or incoming.key != device.key:
        _over_limit(device)  # a new conversation's first message counts toward its limit
    response = HttpResponseRedirect(reverse("public:chat") + "#end")
    _set_cookie(response, device)
    # The event is committed; answer it now if nobody else is writing (the worker would do it
    # otherwise, a moment later). A failure here loses nothing: the event waits in the inbox.
    with serial_write_if_free() as free:
        if free:
            try:
                inbox.process_all(device.ordering_key, limit=10)
            except Exception:  # noqa: BLE001 - the worker answers it; the new cookie must go out
                log.warning("web chat message stored; the worker will answer it")
    return response


@never_cache
@require_GET
def chat_transcript(request: HttpRequest) -> HttpResponse:
    """The transcript alone, for the page's refresh script. A cookie that was ours but is no
    longer current (a message just swapped it) gets 409, which the script ignores: an empty
    transcript would make it reload the page and cancel the send."""
    device = _device(request)
    if webchat.superseded(device):
        return HttpResponse(status=409)
    return _drop_bad_cookie(
        request, render(request, "public/_transcript.html", _context(_device(request)))
    )


@never_cache
@require_POST
def chat_end(request: HttpRequest) -> HttpResponse:
    """Forget this device: its chat ends on the server too (the conversation stays for the
    operators), the public cookies go and the browser leaves for a neutral site. If the database
    is too busy to end it, the visitor is told so and may try again."""
    try:
        with serial_write(), transaction.atomic():
            webchat.end_device(_device(request))
    except DatabaseError:
        log.warning("web chat not ended: the database is busy")
        return render(
            request,
            "public/chat.html",
            _context(
                _device(request),
                error=_(
                    "We could not end the chat just now. Please press “End the chat on this "
                    "device” again in a moment."
                ),
            ),
            status=503,
        )
    response = HttpResponseRedirect(settings.LIFELINE_NEUTRAL_URL)
    response.delete_cookie(webchat.COOKIE, path="/chat/", samesite="Strict")
    response.delete_cookie(settings.CSRF_COOKIE_NAME, path=settings.CSRF_COOKIE_PATH)
    response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH)
    return response
