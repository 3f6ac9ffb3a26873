"""The public pages in headless Chromium: every page in three languages, at phone and desktop
widths, with JavaScript off and on (screenshots kept in test-artifacts/); the quick exit leaves
with and without JavaScript, and with it the site is gone from the back button."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer

from lifeline.public.pages import PAGES as SITE_PAGES
from tests.browser import ARTIFACTS, browser_page

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = (
    {"home": "/", "chat": "/chat/"}
    | {slug: f"/p/{slug}/" for slug in SITE_PAGES}
    | {"figures": "/figures/"}
)
WIDTHS = {"phone": (390, 844), "desktop": (1280, 900)}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_every_public_page_in_three_languages_at_two_widths(
    live_server: LiveServer, settings: SettingsWrapper, javascript: bool
) -> None:
    settings.LIFELINE_BOT_USERNAME = "hochu_zhit_test_bot"
    settings.LIFELINE_PHONE_NUMBERS = ["+380 66 000 00 01"]
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    for locale in ("ru-RU", "uk-UA", "en-US"):
        for width, viewport in WIDTHS.items():
            with browser_page(locale=locale, javascript=javascript, viewport=viewport) as page:
                page.on("request", lambda r: requests.append(r.url))
                for name, path in PAGES.items():
                    page.goto(f"{live_server.url}{path}")
                    expect(page.locator("#quick-exit")).to_be_visible()
                    # Nothing wider than the screen.
                    assert page.evaluate(
                        "document.documentElement.scrollWidth <= window.innerWidth + 1"
                    ), (name, locale, width)
                    mode = "js" if javascript else "nojs"
                    page.screenshot(
                        path=str(ARTIFACTS / f"site-{name}-{locale[:2]}-{width}-{mode}.png"),
                        full_page=True,
                    )
    # Every request the pages made went to this server.
    assert requests
    assert all(url.startswith(live_server.url) for url in requests), [
        u for u in requests if not u.startswith(live_server.url)
    ]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_quick_exit_leaves_and_with_javascript_leaves_no_way_back(
    live_server: LiveServer, settings: SettingsWrapper, javascript: bool
) -> None:
    neutral = f"{live_server.url}/static/lifeline/site.css?neutral"
    settings.LIFELINE_NEUTRAL_URL = neutral
    with browser_page(locale="ru-RU", javascript=javascript) as page:
        page.goto(f"{live_server.url}/static/lifeline/notify.wav?before")
        page.goto(f"{live_server.url}/chat/")
        page.click("#quick-exit")
        page.wait_for_url(neutral)
        page.go_back()
        if javascript:
            # The chat page was replaced in the history: back goes to what came before it.
            assert "/chat/" not in page.url
        else:
            assert "/chat/" in page.url or "/exit/" in page.url
