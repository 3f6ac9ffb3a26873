"""The enrolment link in a real headless Chromium: the token after ``#`` never reaches the
server in a URL; ``enrol.js`` moves it into the form, clears it from the address bar, and the
new person sets his own password. Without JavaScript the code can be pasted by hand."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from pytest_django.live_server_helper import LiveServer

from lifeline.core import staff as staff_services
from lifeline.core.models import EnrolmentLink, Role, User
from tests.browser import browser_page, chromium_or_skip
from tests.factories import create_user

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "lantern-harbour-violet-77"


def _new_account(username: str) -> str:
    admin = create_user(Role.ADMIN)
    created = staff_services.staff_create(actor=admin, username=username, role=Role.PRESS)
    assert created.token is not None
    return created.token


@pytest.mark.parametrize("javascript", [True, False])
def test_enrolment_link_in_a_browser(live_server: LiveServer, javascript: bool) -> None:
    chromium_or_skip()
    token = _new_account("newcomer")
    requested: list[str] = []
    posts: list[int] = []
    with browser_page(javascript=javascript) as page:
        page.on("request", lambda request: requested.append(request.url))
        page.on(
            "response",
            lambda response: (
                posts.append(response.status)
                if response.request.method == "POST" and "/console/enrol/" in response.url
                else None
            ),
        )
        page.goto(f"{live_server.url}/console/enrol/#{token}")
        if javascript:
            # The script submitted the code at once: the password form is there.
            expect(page.locator('input[name="new_password1"]')).to_be_visible()
        else:
            page.locator('input[name="token"]').fill(token)
            page.get_by_role("button", name="Continue").click()
        assert urlsplit(page.url).fragment == ""
        expect(page.get_by_text("Account: newcomer.")).to_be_visible()
        page.locator('input[name="new_password1"]').fill(PASSWORD)
        page.locator('input[name="new_password2"]').fill(PASSWORD)
        page.get_by_role("button", name="Set password").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        expect(page.get_by_text("Your password is set.")).to_be_visible()
        # The same link again: the code step answers 404.
        page.goto(f"{live_server.url}/console/enrol/#{token}")
        if not javascript:
            page.locator('input[name="token"]').fill(token)
            page.get_by_role("button", name="Continue").click()
        expect(page.locator('input[name="new_password1"]')).to_have_count(0)
        page.wait_for_load_state()
    # Code, password, and the spent code again.
    assert posts == [200, 302, 404]
    # No URL the browser asked for carried the token (fragments are never sent).
    assert requested
    assert not [url for url in requested if token in urlsplit(url)._replace(fragment="").geturl()]
    assert User.objects.get(username="newcomer").check_password(PASSWORD)
    assert EnrolmentLink.objects.get(user__username="newcomer").used_at is not None
