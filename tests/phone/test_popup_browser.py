"""Acceptance: the answering operator sees the pop-up with the caller's existing case, in
headless Chromium, without reloading the page."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer

from lifeline.contacts.services import identity_get_or_create
from lifeline.core.models import Role
from lifeline.phone import cti
from tests.browser import ARTIFACTS, browser_page
from tests.factories import create_case, create_user

pytestmark = pytest.mark.django_db(transaction=True)


def pbx_post(base: str, event: dict[str, str]) -> int:
    """What the PBX does: a signed POST to the CTI endpoint."""
    body = json.dumps(event).encode()
    ts = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - our own live server
        f"{base}/cti/events/",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Lifeline-Pbx": "office",
            "X-Lifeline-Timestamp": ts,
            "X-Lifeline-Signature": cti.sign(b"browser-pbx-secret", ts, body),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return int(response.status)


def test_the_answering_operator_sees_the_callers_case(
    live_server: LiveServer, settings: SettingsWrapper
) -> None:
    settings.LIFELINE_PBX_SECRETS = "office:browser-pbx-secret"
    operator = create_user(Role.OPERATOR, username="petra", password="a long enough passphrase")
    device = TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    identity = identity_get_or_create(channel="phone", address="+79995550033")
    case = create_case(actor=operator, via="", requester=identity.contact, channel="phone")
    with browser_page(locale="en-US") as page:
        page.goto(f"{live_server.url}/console/login/")
        page.fill('input[name="username"]', "petra")
        page.fill('input[name="password"]', "a long enough passphrase")
        page.click('form.stack button[type="submit"]')
        page.fill('input[name="otp_token"]', code)
        page.click('form.stack button[type="submit"]')
        expect(page.locator(".console-nav")).to_be_visible()
        expect(page.locator("#call-popup")).not_to_contain_text("On the line now")
        # The PBX reports the call ringing, then answered by this operator.
        assert (
            pbx_post(
                live_server.url, {"event": "newCall", "callId": "pop1", "from": "+7 999 555-00-33"}
            )
            == 200
        )
        assert (
            pbx_post(live_server.url, {"event": "answer", "callId": "pop1", "user": "petra"}) == 200
        )
        expect(page.locator("#call-popup")).to_contain_text("Known caller", timeout=15_000)
        expect(page.locator("#call-popup")).to_contain_text(case.number)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "call-popup.png"))
