"""The ninth review's quick-exit findings in headless Chromium: after a quick exit, Back does not
return to any page of the site read in this visit, and the page is hidden at once even when our
server is slow to answer."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer

from tests.browser import browser_page

pytestmark = pytest.mark.django_db(transaction=True)


def test_f6_back_button_after_quick_exit_does_not_return_to_the_site(
    live_server: LiveServer, settings: SettingsWrapper
) -> None:
    neutral = f"{live_server.url}/static/lifeline/site.css?neutral"
    settings.LIFELINE_NEUTRAL_URL = neutral
    with browser_page(locale="ru-RU", javascript=True) as page:
        page.goto(f"{live_server.url}/static/lifeline/notify.wav?before")
        page.goto(f"{live_server.url}/")
        page.click("a[href='/p/safety/']")  # the visitor reads one page of the menu
        page.wait_for_url("**/p/safety/")
        page.click("#quick-exit")
        page.wait_for_url(neutral)
        page.go_back()
        # Someone who grabs the phone presses Back: he must not see the hotline.
        assert page.url.endswith("?before"), page.url


def test_f7_quick_exit_hides_the_site_at_once_even_if_our_server_is_slow(
    live_server: LiveServer, settings: SettingsWrapper
) -> None:
    settings.LIFELINE_NEUTRAL_URL = f"{live_server.url}/static/lifeline/site.css?neutral"
    with browser_page(locale="ru-RU", javascript=True) as page:
        page.goto(f"{live_server.url}/")
        # The page cannot be read while its navigation hangs, so it reports itself: an observer
        # tells the test when the body is hidden and the title emptied.
        seen: list[bool] = []
        page.expose_function("lifelineReport", lambda value: seen.append(bool(value)))
        page.evaluate(
            "new MutationObserver(function () {"
            " window.lifelineReport(document.body.hidden && document.title === '');"
            "}).observe(document.body, {attributes: true})"
        )
        # Our server (over Tor, or under a DDoS) is slow to answer /exit/.
        held: list[object] = []
        page.route("**/exit/", lambda route: held.append(route))  # answered only after the check
        page.evaluate("document.getElementById('quick-exit').click()")
        page.wait_for_timeout(1000)
        for route in held:
            route.abort()  # type: ignore[attr-defined]
        assert held, "the quick exit did not leave for /exit/"
        assert True in seen, "a second after Quick exit the hotline page is still on screen"
