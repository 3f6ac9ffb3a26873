"""Live updates in the console (htmx): a person writes in the web chat while an operator has
the conversation open; the operator sees it without reloading, answers, and the person sees the
answer. Two browser contexts, one person and one operator."""

from __future__ import annotations

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from lifeline.conversations.models import Conversation
from lifeline.core.models import Role
from tests.browser import CHROMIUM, CHROMIUM_ARGS, chromium_or_skip
from tests.factories import create_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_operator_sees_new_messages_without_reloading(live_server: LiveServer) -> None:
    chromium_or_skip()
    base = live_server.url
    operator = create_user(Role.OPERATOR, username="olena", password="a long enough passphrase")
    device = TOTPDevice.objects.create(user=operator, name="phone", confirmed=True)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            person = browser.new_context(locale="ru-RU").new_page()
            person.goto(f"{base}/chat/")
            person.fill("#chat-text", "Здравствуйте")
            person.click("button.send")
            person.get_by_role("button", name="Хочу сначала задать вопросы").click()
            person.get_by_role("button", name="Поговорить с человеком").click()
            expect(person.locator(".transcript")).to_contain_text("оператор")

            staff = browser.new_context(locale="en-US").new_page()
            errors: list[str] = []
            staff.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            staff.goto(f"{base}/console/login/")
            staff.fill('input[name="username"]', "olena")
            staff.fill('input[name="password"]', "a long enough passphrase")
            staff.click('form.stack button[type="submit"]')
            staff.fill('input[name="otp_token"]', code)
            staff.click('form.stack button[type="submit"]')
            staff.click("text=Queue")
            staff.click("text=Open")
            staff.click('button[value="take"]')
            expect(staff.locator("#transcript")).to_contain_text("Поговорить с человеком")
            staff.evaluate("window.__marker = 'no reload'")

            person.fill("#chat-text", "Я здесь, жду")
            person.click("button.send")
            # The operator's page picks it up by itself (htmx polling), with no reload.
            expect(staff.locator("#transcript")).to_contain_text("Я здесь, жду", timeout=15_000)
            assert staff.evaluate("window.__marker") == "no reload"

            staff.fill("#reply-text", "Я оператор, я вас слышу.")
            staff.click('#reply-form button:has-text("Send")')
            expect(person.locator(".transcript")).to_contain_text(
                "Я оператор, я вас слышу.", timeout=15_000
            )
            assert errors == []  # htmx runs under the CSP without violations
        finally:
            browser.close()
    conversation = Conversation.objects.get()
    assert conversation.channel == "web"
    assert conversation.assignee == operator
