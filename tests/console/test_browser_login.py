"""The console sign-in, end to end in a real headless Chromium against a live server.

One staff account goes through: first login and TOTP enrolment from the page's key, sign-out,
second login where the enrolment code is refused (a code works once) and the next one accepted,
then the per-account lockout after five wrong passwords.

Chromium comes from the system (``/usr/bin/chromium``, Debian); no browser is ever downloaded.
Without it the test is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axes.models import AccessAttempt
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Locator, Page, Response, expect
from pytest_django.live_server_helper import LiveServer

from lifeline.audit.models import AuditEntry
from lifeline.core.models import Role
from tests.browser import browser_page, chromium_or_skip
from tests.factories import create_user

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

PASSWORD = "violet-harbour-lantern-42"  # at least 14 characters, as the validators require
WRONG_PASSWORD = "not-the-right-password-at-all"

# TOTPDevice defaults: 30-second steps from t0 = 0, six digits.
STEP = 30
DIGITS = 6
# OTP_TOTP_THROTTLE_FACTOR = 1: after one wrong code, the device refuses to check for 1 second.
THROTTLE_AFTER_ONE_FAILURE = 1.0
AXES_FAILURE_LIMIT = 5

SECRET_GROUPS = re.compile(r"^[A-Z2-7]{4}( [A-Z2-7]{1,4})*$")


# --- Browser --------------------------------------------------------------------------------


@contextmanager
def console_browser() -> Iterator[Page]:
    """A fresh English-speaking page in headless Chromium (see tests/browser.py)."""
    with browser_page(locale="en-US") as page:
        yield page


def submit(page: Page, button: Locator) -> Response:
    """Click a submit button and return the response of the page it leads to (after redirects)."""
    with page.expect_navigation(wait_until="load") as navigation:
        button.click()
    response = navigation.value
    assert response is not None
    # A CSRF refusal shows up here first, e.g. when the browser sends "Origin: null".
    assert response.status != 403, (
        f"403 from {response.url}: {page.locator('body').inner_text()!r}; request headers: "
        f"origin={response.request.header_value('origin')!r}"
    )
    return response


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def query_of(page: Page) -> str:
    return urlsplit(page.url).query


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def sign_in(page: Page, username: str, password: str) -> Response:
    expect(heading(page)).to_have_text("Sign in")
    page.locator('input[name="username"]').fill(username)
    page.locator('input[name="password"]').fill(password)
    return submit(page, page.get_by_role("button", name="Sign in"))


def sign_out(page: Page) -> Response:
    button = page.locator("nav.console-nav").get_by_role("button", name="Sign out")
    response = submit(page, button)
    assert path_of(page) == "/console/login/"
    expect(heading(page)).to_have_text("Sign in")
    return response


# --- TOTP -------------------------------------------------------------------------------------


def code_at(key: bytes, t: int) -> str:
    """The code an authenticator app shows during time step ``t``."""
    totp = TOTP(key, step=STEP, t0=0, digits=DIGITS)
    totp.time = t * STEP
    assert totp.t() == t
    return f"{totp.token():0{DIGITS}d}"


def current_step() -> int:
    return int(time.time()) // STEP


def enter_code(page: Page, code: str, button_name: str) -> Response:
    page.locator('input[name="otp_token"]').fill(code)
    return submit(page, page.get_by_role("button", name=button_name))


# --- The scenario -----------------------------------------------------------------------------


def test_enrol_sign_in_with_fresh_code_then_lockout(live_server: LiveServer) -> None:
    chromium_or_skip()
    user = create_user(Role.SUPERVISOR, password=PASSWORD)
    assert not TOTPDevice.objects.filter(user=user).exists()
    base = live_server.url

    with console_browser() as page:
        enrol_step, fresh_step = _browse_scenario(page, base, user.username)

    # Checked from the database, once the browser is closed.
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed
    assert enrol_step < fresh_step
    assert device.last_t == fresh_step  # the step of the last code used: older codes are refused
    assert list(
        AuditEntry.objects.filter(actor=user).order_by("seq").values_list("action", flat=True)
    ) == [
        "staff.login",
        "staff.totp_enrolled",
        "staff.logout",
        "staff.login",
        "staff.second_factor_failed",
        "staff.second_factor",
        "staff.logout",
    ]
    # Five failures, plus the right password refused during the lockout (with axes' default
    # AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT it counts too, and restarts the cool-off).
    attempt = AccessAttempt.objects.get(username=user.username)
    assert attempt.failures_since_start >= AXES_FAILURE_LIMIT


def _browse_scenario(page: Page, base: str, username: str) -> tuple[int, int]:
    """Steps 1 to 6, all through the browser. Returns the TOTP steps used at enrolment and
    at the second login."""
    # 1. An anonymous visit to the console lands on the login page.
    response = page.goto(f"{base}/console/")
    assert response is not None
    assert response.ok
    assert response.request.redirected_from is not None
    assert path_of(page) == "/console/login/"
    assert not query_of(page)  # where to go next is kept in the session, not in the URL
    expect(page.locator("html")).to_have_attribute("lang", re.compile(r"^en"))

    # 2. First login: the password leads to enrolment, not to the console.
    sign_in(page, username, PASSWORD)
    assert path_of(page) == "/console/otp/setup/"
    assert not query_of(page)  # where to go next is kept in the session, not in the URL
    expect(heading(page)).to_have_text("Set up your authenticator")
    qr = page.locator("img.qr")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    # Really rendered (the CSP allows data: images): the SVG decoded to a non-empty picture.
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(page.locator("nav.console-nav")).to_have_count(0)  # no console navigation yet

    secret_text = page.locator("code#totp-secret").inner_text().strip()
    assert SECRET_GROUPS.match(secret_text), secret_text
    key = base64.b32decode(secret_text.replace(" ", ""))
    assert len(key) == 20
    screenshot(page, "console-otp-setup")

    # 3. Confirm with the code of the current step: enrolled, verified, on the console home.
    enrol_step = current_step()
    enrol_code = code_at(key, enrol_step)
    enter_code(page, enrol_code, "Confirm")
    assert path_of(page) == "/console/"
    expect(heading(page)).to_have_text("Cases by status")
    expect(page.get_by_text(f"Signed in as {username} (Supervisor).")).to_be_visible()
    expect(page.locator("table.counts tbody tr")).not_to_have_count(0)
    screenshot(page, "console-home")

    # 4. Sign out from the navigation: back to the login page, and the console is closed again.
    sign_out(page)
    page.goto(f"{base}/console/")
    assert path_of(page) == "/console/login/"

    # 5. Second login: the code page, where the enrolment code is refused (a code works once).
    sign_in(page, username, PASSWORD)
    assert path_of(page) == "/console/otp/verify/"
    assert not query_of(page)  # where to go next is kept in the session, not in the URL
    expect(heading(page)).to_have_text("Enter your code")

    refused = enter_code(page, enrol_code, "Continue")
    refused_at = time.monotonic()
    assert refused.status == 200
    assert path_of(page) == "/console/otp/verify/"
    expect(heading(page)).to_have_text("Enter your code")
    alert = page.get_by_role("alert")
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("already used")

    # The wrong code started django-otp's throttle (1 second after one failure); a code typed
    # sooner would be refused whatever it is. Wait out that second, not a TOTP window: the next
    # step's code is accepted now because the device tolerates one step of difference.
    remaining = THROTTLE_AFTER_ONE_FAILURE + 0.1 - (time.monotonic() - refused_at)
    if remaining > 0:
        page.wait_for_timeout(remaining * 1000)
    fresh_step = max(enrol_step + 1, current_step())
    fresh_code = code_at(key, fresh_step)
    assert fresh_code != enrol_code
    enter_code(page, fresh_code, "Continue")
    assert path_of(page) == "/console/"
    expect(heading(page)).to_have_text("Cases by status")
    expect(page.get_by_role("alert")).to_have_count(0)

    # 6. Lockout: five wrong passwords lock the account, and then the right one does not help.
    sign_out(page)
    for attempt in range(1, AXES_FAILURE_LIMIT + 1):
        page.goto(f"{base}/console/login/")
        response = sign_in(page, username, WRONG_PASSWORD)
        assert path_of(page) == "/console/login/"
        if attempt < AXES_FAILURE_LIMIT:
            assert response.status == 200, attempt
            expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
        else:  # the failure that reaches the limit is answered with the lockout page
            assert response.status == 429, attempt
            expect(heading(page)).to_have_text("Account locked")

    page.goto(f"{base}/console/login/")
    locked = sign_in(page, username, PASSWORD)
    assert locked.status == 429
    assert locked.request.method == "POST"
    assert locked.request.redirected_from is None  # answered directly, not sent on to the code page
    assert path_of(page) == "/console/login/"
    expect(heading(page)).to_have_text("Account locked")
    expect(page.get_by_role("alert")).to_contain_text("Too many wrong passwords")
    expect(page.locator('input[name="otp_token"]')).to_have_count(0)
    screenshot(page, "console-locked")

    # Still signed out: the console sends the browser to the login page.
    page.goto(f"{base}/console/")
    assert path_of(page) == "/console/login/"
    expect(heading(page)).to_have_text("Sign in")
    return enrol_step, fresh_step
