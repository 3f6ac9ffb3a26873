"""What the ninth adversarial review found on the public site, each kept as a test: links that
a browser would read as another host, a header broken by a crafted path, error pages without
the quick exit, chat replies counted as visits, statistics kinds made up by /start payloads."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.public.pages import render
from lifeline.stats.models import PageVisit, StatEvent
from tests.factories import say, telegram_conversation

pytestmark = pytest.mark.django_db

HREF = re.compile(r'href="([^"]*)"')


def whatwg_preprocess(href: str) -> str:
    """What a browser does to an href before resolving it (URL Standard, basic URL parser):
    strip leading/trailing C0 controls and spaces, remove every ASCII tab or newline, and for
    special schemes treat a backslash like a slash."""
    href = href.strip("".join(chr(c) for c in range(0x21)))
    href = re.sub(r"[\t\n\r]", "", href)
    return href.replace("\\", "/")


@pytest.mark.parametrize(
    "source",
    [
        "[clone](/&#9;/evil.example/)",  # Markdown link, tab entity
        "[clone](/&#10;/evil.example/)",  # newline entity
        '<a href="/&#13;\\evil.example/">clone</a>',  # CR + backslash
        '<a href="&#1;//evil.example/">clone</a>',  # leading C0 control
    ],
)
def test_f1_markdown_links_cannot_leave_the_host_via_whitespace_in_href(source: str) -> None:
    html = render(source)
    for href in HREF.findall(html):
        resolved = whatwg_preprocess(href)
        assert not resolved.startswith("//"), (source, html)


@pytest.mark.parametrize("path", ["/%0D%0AX-Injected:%201/", "/p/%0a/", "/chat/%0d"])
def test_f2_crlf_in_path_with_onion_address_is_not_a_500(
    settings: SettingsWrapper, path: str
) -> None:
    settings.LIFELINE_ONION_ADDRESS = "lifelinexyzabcdefghijklmnopqrstuvwxyz234567abcdefghij.onion"
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == 404, response.status_code


def test_f3_server_error_page_has_the_quick_exit() -> None:
    html = render_to_string("500.html")
    assert 'href="/exit/"' in html


def test_f3b_csrf_failure_page_on_the_public_side_has_the_quick_exit() -> None:
    # A visitor whose browser lost the session cookies (restart, Tor "New identity", "End the
    # chat" in another tab) and then presses Send gets Django's bare CSRF page.
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="ru")
    response = client.post("/chat/", {"text": "Хочу жить", "message_id": "a" * 32})
    assert response.status_code == 403
    assert 'href="/exit/"' in response.content.decode()


def test_f4_sending_chat_messages_is_not_counted_as_page_visits() -> None:
    # As a browser does it: one GET of the chat, then per message a POST whose redirect the
    # browser follows back to /chat/#end (the no-JS page also refreshes itself every 4 s while
    # the bot is answering, each refresh another GET).
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    page = client.get("/chat/").content.decode()
    for word in ("/start", "привет", "ещё"):
        mid = page.split('name="message_id" value="')[1].split('"')[0]
        response = client.post("/chat/", {"text": word, "message_id": mid})
        assert response.status_code == 302
        page = client.get(response["Location"].split("#")[0]).content.decode()
    total = sum(PageVisit.objects.filter(page="chat").values_list("count", flat=True))
    assert total == 1, total


def test_f5_start_payloads_give_only_known_entry_kinds() -> None:
    conversation = telegram_conversation("7401", "ru")
    for junk in ("site-aaaaaaaaaaaaaaaaaaaa", "site-fsbwashere", "site-zzzz"):
        say(conversation, f"/start {junk}")
    kinds = set(StatEvent.objects.filter(kind__startswith="entry.").values_list("kind", flat=True))
    assert kinds <= {"entry.site-home"} | {
        f"entry.site-{slug}"
        for slug in ("how", "guarantees", "front", "relatives", "safety", "faq")
        + ("testimonies", "contacts")
    }, kinds
