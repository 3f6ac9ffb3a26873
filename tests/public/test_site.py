"""The public site (issue 11, first part): three ways to reach us from settings, a quick exit on
every page, no reference to another host, the onion address, privacy-preserving visit counts,
and links to the bot counted by the page they came from."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.core import management
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.stats.models import PageVisit, StatEvent
from tests.factories import create_user, login_verified, say, telegram_conversation
from tests.public.chat_client import send

pytestmark = pytest.mark.django_db


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.resources: list[str] = []  # fetched by the browser: must stay on this host
        self.anchors: list[str] = []  # followed only if the visitor clicks
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        for name in ("src", "srcset", "poster", "data"):
            if values.get(name):
                self.resources.append(str(values[name]))
        if tag == "link" and values.get("href"):
            self.resources.append(str(values["href"]))
        if tag == "form" and values.get("action"):
            self.resources.append(str(values["action"]))
        if tag == "a" and values.get("href"):
            self.anchors.append(str(values["href"]))


def parse(html: str) -> Links:
    links = Links()
    links.feed(html)
    return links


def public_pages(settings: SettingsWrapper) -> dict[str, str]:
    """Every public page as a visitor meets it, in each language."""
    pages: dict[str, str] = {}
    for language in ("ru", "uk", "en"):
        client = Client(HTTP_ACCEPT_LANGUAGE=language)
        pages[f"home-{language}"] = client.get("/").content.decode()
        pages[f"chat-{language}"] = client.get("/chat/").content.decode()
        pages[f"figures-{language}"] = client.get("/figures/").content.decode()
        send(client, "/start")
        pages[f"chat-with-transcript-{language}"] = client.get("/chat/").content.decode()
    return pages


def test_the_home_page_gives_three_ways_from_settings(settings: SettingsWrapper) -> None:
    settings.LIFELINE_BOT_USERNAME = "hochu_zhit_test_bot"
    settings.LIFELINE_PHONE_NUMBERS = ["+38 (066) 000-00-01", "+7 000 000 00 02"]
    settings.LIFELINE_MIRRORS = ["mirror-one.example", "mirror-two.example"]
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()
    assert 'href="https://t.me/hochu_zhit_test_bot?start=site-home"' in page
    assert 'href="tel:+380660000001"' in page
    assert 'href="tel:+70000000002"' in page
    assert 'href="/chat/"' in page
    assert "Our only bot is @hochu_zhit_test_bot" in page
    assert "never ask for money or files" in page
    assert "<code>mirror-one.example</code>" in page  # as text, never a link
    # Changed without a release: another bot name, no phone.
    settings.LIFELINE_BOT_USERNAME = "@another_bot"
    settings.LIFELINE_PHONE_NUMBERS = []
    page = Client(HTTP_ACCEPT_LANGUAGE="ru").get("/").content.decode()
    assert "https://t.me/another_bot?start=site-home" in page
    assert "tel:" not in page
    # A username that is not one is not rendered as a link.
    settings.LIFELINE_BOT_USERNAME = "evil.example/phish"
    assert "evil.example" not in Client().get("/").content.decode()


def test_every_public_page_has_the_quick_exit_and_references_no_other_host(
    settings: SettingsWrapper,
) -> None:
    settings.LIFELINE_BOT_USERNAME = "hochu_zhit_test_bot"
    settings.LIFELINE_PHONE_NUMBERS = ["+380660000001"]
    settings.LIFELINE_MIRRORS = ["mirror-one.example"]
    for name, html in public_pages(settings).items():
        links = parse(html)
        assert "quick-exit" in links.ids, name
        assert 'href="/exit/"' in html, name
        for url in links.resources:
            # This host only (the empty favicon is inline: no request at all).
            assert url == "data:," or (url.startswith("/") and not url.startswith("//")), (
                name,
                url,
            )
        for url in links.anchors:
            assert (
                (url.startswith("/") and not url.startswith("//"))
                or url.startswith(("#", "?", "tel:"))
                or url.startswith("https://t.me/hochu_zhit_test_bot")
            ), (name, url)
    from pathlib import Path

    css = Path("lifeline/static/lifeline/site.css").read_text(encoding="utf-8")
    assert "http" not in css
    assert "@import" not in css


def test_the_quick_exit_leaves_for_a_neutral_site_and_says_nothing(
    settings: SettingsWrapper,
) -> None:
    settings.LIFELINE_NEUTRAL_URL = "https://neutral.example/weather/"
    response = Client().get("/exit/")
    assert response.status_code == 302
    assert response["Location"] == "https://neutral.example/weather/"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert Client().post("/exit/").status_code == 405


def test_the_onion_address_is_announced_on_public_pages_only(settings: SettingsWrapper) -> None:
    client = Client()
    assert "Onion-Location" not in client.get("/")
    settings.LIFELINE_ONION_ADDRESS = (
        "lifelinexyzabcdefghijklmnopqrstuvwxyz234567abcdefghijkl.onion"
    )
    response = client.get("/chat/?q=secret")
    assert response["Onion-Location"] == (
        "http://lifelinexyzabcdefghijklmnopqrstuvwxyz234567abcdefghijkl.onion/chat/"
    )
    assert "Onion-Location" not in client.get("/console/login/")


def test_visits_are_counted_per_page_language_and_day_with_nothing_about_the_visitor(
    settings: SettingsWrapper, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.LIFELINE_COUNTRY_HEADER = "HTTP_X_PROXY_COUNTRY"
    marks: dict[str, Any] = {
        "REMOTE_ADDR": "203.0.113.77",
        "HTTP_USER_AGENT": "UniqueAgentMarker/9.9",
        "HTTP_X_FORWARDED_FOR": "198.51.100.23",
        "HTTP_COOKIE": "spy=CookieMarker123",
    }
    Client(HTTP_ACCEPT_LANGUAGE="ru", HTTP_X_PROXY_COUNTRY="ru", **marks).get("/")
    Client(HTTP_ACCEPT_LANGUAGE="ru", HTTP_X_PROXY_COUNTRY="RU", **marks).get("/")
    Client(HTTP_ACCEPT_LANGUAGE="uk", HTTP_X_PROXY_COUNTRY="<script>", **marks).get("/chat/")
    rows = {(v.page, v.language, v.country): v.count for v in PageVisit.objects.all()}
    assert rows == {("home", "ru", "RU"): 2, ("chat", "uk", ""): 1}
    management.call_command("dumpdata", "--all", stdout=None)
    dump = capsys.readouterr().out
    for mark in ("203.0.113.77", "198.51.100.23", "UniqueAgentMarker", "CookieMarker123"):
        assert mark not in dump


def test_the_press_office_sees_the_counts(settings: SettingsWrapper) -> None:
    Client(HTTP_ACCEPT_LANGUAGE="en").get("/")
    press = create_user("press")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, press)
    page = client.get("/console/visits/").content.decode()
    assert 'id="visits-by-page"' in page
    assert "<td>home</td><td>en</td><td>1</td>" in page


def test_a_link_from_the_site_to_the_bot_is_counted_by_its_page() -> None:
    conversation = telegram_conversation("7400", "ru")
    say(conversation, "/start site-home")
    say(conversation, "/start whatever-else")
    say(conversation, "/start")
    kinds = list(StatEvent.objects.filter(kind__startswith="entry.").values_list("kind", flat=True))
    assert kinds == ["entry.site-home"]
