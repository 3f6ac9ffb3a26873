"""The whole two-stage story in headless Chromium, each step by its own role-separated account.

1. an operator answers a Telegram conversation (the reply reaches the fake Bot API server);
2. an operator takes a call and creates an application with the phone script;
3. a verifier sees a duplicate warning and verifies the case;
4. an operator re-identifies the man by his code words and marks the case ready;
5. supervisor A requests an operation, A's own approval is refused, supervisor B approves;
6. the liaison records the surrender; the timeline shows every step;
7. a supervisor records an exchange and attaches him; the case page shows every note.

Screenshots go to test-artifacts/. The ORM is used only between browser sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer

from lifeline.cases import codenames, workflow
from lifeline.cases.models import Case, CaseEvent
from lifeline.channels import outbox
from lifeline.channels.models import OutboundMessage
from lifeline.channels.telegram import TelegramSender
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.models import Conversation
from lifeline.core.models import Role, User
from tests.browser import ARTIFACTS, browser_page
from tests.channels.fake_telegram import FakeTelegram
from tests.factories import create_user

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long enough story passphrase"


def account(role: str, name: str) -> tuple[User, str]:
    user = create_user(role, username=name, password=PASSWORD)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    return user, code


def sign_in(page: Page, base: str, username: str, code: str) -> None:
    page.goto(f"{base}/console/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('form.stack button[type="submit"]')
    page.wait_for_load_state("load")
    assert "/console/otp/verify/" in page.url, (page.url, page.locator("main").inner_text())
    page.fill('input[name="otp_token"]', code)
    page.click('form.stack button[type="submit"]')
    page.wait_for_load_state("load")
    assert page.locator(".console-nav").count() == 1, (
        username,
        page.url,
        page.locator("main").inner_text(),
    )


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"story-{name}.png"), full_page=True)


def test_the_two_stage_story(live_server: LiveServer, settings: SettingsWrapper) -> None:
    base = live_server.url
    fake = FakeTelegram().start()
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.LIFELINE_TELEGRAM_API_BASE = fake.base
    operator, op_code = account(Role.OPERATOR, "olga")
    operator2, op2_code = account(Role.OPERATOR, "oleg")
    verifier, ver_code = account(Role.VERIFIER, "vera")
    sup_a, a_code = account(Role.SUPERVISOR, "anna")
    sup_b, b_code = account(Role.SUPERVISOR, "boris")
    liaison, l_code = account(Role.LIAISON, "lev")

    # 1. A Telegram conversation waits for a human.
    identity = identity_get_or_create(channel="telegram", address="777001")
    chat = Conversation.objects.create(
        contact=identity.contact,
        identity=identity,
        channel="telegram",
        status="waiting",
        waiting_since=timezone.now(),
    )
    code = fresh_code(operator)
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "olga", code)
        page.click("text=Queue")
        page.click(f'a[href="/console/conversations/{chat.pk}/"]')
        page.click('button[value="take"]')
        page.fill("#reply-text", "Hello, I am an operator. I can help you.")
        page.click('#reply-form button[type="submit"]:has-text("Send")')
        expect(page.locator(".transcript")).to_contain_text("I am an operator")
        shot(page, "1-conversation")
    sender = TelegramSender()
    try:
        outbox.send_all({"telegram": sender})
    finally:
        sender.close()
    (sent,) = fake.sent()
    assert sent.data["chat_id"] == "777001"
    assert sent.data["text"] == "Hello, I am an operator. I can help you."
    assert OutboundMessage.objects.get().status == "sent"
    fake.stop()

    # 2. A call: the phone script creates the application.
    existing = workflow.case_create(
        actor=None,
        via="test",
        channel="web",
        full_name="Другой Человек",
        service_number="ДЕМО-000102",
    )
    code = fresh_code(operator)
    with browser_page(locale="ru-RU") as page:
        sign_in(page, base, "olga", code)
        page.click("text=Очередь")
        page.click('button:has-text("Новый звонок")')
        for answer in ["Ещё не на фронте — новая заявка", "Мобилизован"]:
            page.click(f'button.choice:has-text("{answer}")')
        for typed in ["Примеров Фёдор Иванович", "02.07.1987"]:
            page.fill("#call-answer", typed)
            page.click('button:has-text("Далее")')
        page.click('button.choice:has-text("Знает")')
        for typed in ["ДЕМО-000102", "рядовой", "в/ч 00002", "не говорит"]:
            page.fill("#call-answer", typed)
            page.click('button:has-text("Далее")')
        page.click('button.choice:has-text("Забрали, есть второй")')
        page.click('button.choice:has-text("Согласен — оформить")')
        expect(page.locator(".script-step").first).to_be_visible()
        shot(page, "2-call")
        page.click("text=Открыть дело")
        expect(page.locator("#f-full_name")).to_have_text("Примеров Фёдор Иванович")
    case = Case.objects.exclude(pk=existing.pk).get()
    assert case.assignee == operator
    assert case.status == "applied"

    # 3. The verifier sees the duplicate and verifies.
    code = fresh_code(verifier)
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "vera", code)
        page.goto(f"{base}/console/cases/{case.pk}/")
        expect(page.locator("#duplicates")).to_contain_text("Possible duplicate")
        # What he wrote is on the page (the phone script's case has no chat: none here).
        boxes = page.locator('#verify-form input[type="checkbox"]').all()
        boxes[0].check()
        page.fill('#verify-form textarea[name="note"]', "Unit and story agree; number checked.")
        page.click('#verify-form button[value="verify"]')
        # Refused, in words; his tick and note are still there.
        expect(page.locator(".messages")).to_contain_text("The service number has a plausible")
        expect(page.locator('#verify-form input[type="checkbox"]').first).to_be_checked()
        expect(page.locator('#verify-form textarea[name="note"]')).to_have_value(
            "Unit and story agree; number checked."
        )
        for box in page.locator('#verify-form input[type="checkbox"]').all():
            box.check()
        page.click('#verify-form button[value="verify"]')
        expect(page.locator("#case-status")).to_have_text("Verified")
        shot(page, "3-verified")

    # 4. Stage 2: the operator re-identifies him by his code words.
    words = codenames.generate()
    workflow.case_set_codename(case=case, codename=words)
    code = fresh_code(operator)
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "olga", code)
        page.goto(f"{base}/console/cases/{case.pk}/")
        page.fill('#ready-form input[name="codename"]', "wrong words entirely")
        page.click('#ready-form button[value="mark_ready"]')
        expect(page.locator(".messages")).to_contain_text("does not match")
        page.fill('#ready-form input[name="codename"]', words)
        page.click('#ready-form button[value="mark_ready"]')
        expect(page.locator("#case-status")).to_have_text("Ready")

    # 5. Supervisor A requests, cannot approve her own request; supervisor B approves.
    when = (timezone.localtime() + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M")
    code = fresh_code(sup_a)
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "anna", code)
        page.goto(f"{base}/console/cases/{case.pk}/")
        page.fill('#operation-form input[name="meeting_point"]', "the crossroads by the mill")
        page.fill('#operation-form input[name="meeting_time"]', when)
        page.fill('#operation-form input[name="signal"]', "white cloth on a stick")
        page.click('#operation-form button[value="request_operation"]')
        expect(page.locator("#approval")).to_contain_text("another supervisor must approve")
        # Her own approval is not offered (the workflow would refuse it too).
        expect(page.locator('#approval button[value="approve"]')).to_have_count(0)
        expect(page.locator("#case-status")).to_have_text("Ready")
        shot(page, "5-own-approval-refused")
    code = fresh_code(sup_b)
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "boris", code)
        page.goto(f"{base}/console/cases/{case.pk}/")
        page.click('#approval button[value="approve"]')
        expect(page.locator("#case-status")).to_have_text("In operation")

    # 6. The liaison records the surrender; the timeline shows every step.
    code = fresh_code(liaison)
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "lev", code)
        page.click("text=Operations")
        expect(page.locator("section.card")).to_contain_text("Примеров Фёдор Иванович")
        expect(page.locator("section.card")).to_contain_text("the crossroads by the mill")
        expect(page.locator("section.card")).not_to_contain_text("ДЕМО-000102")
        page.fill("section.card textarea[name=note]", "Came out at 05:10, unharmed.")
        page.click('section.card button[value="surrendered"]')
        expect(page.locator(".messages")).to_contain_text("Done.")
    code = fresh_code(sup_a)
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "anna", code)
        page.goto(f"{base}/console/cases/{case.pk}/")
        expect(page.locator("#case-status")).to_have_text("Surrendered")
        timeline = page.locator("#timeline")
        for step in [
            "Application created",
            "Verified",
            "Ready",
            "Operation",
            "In operation",
            "Surrendered",
        ]:
            expect(timeline).to_contain_text(step)
        shot(page, "6-timeline")

    # 7. Afterwards: he waits for an exchange; supervisor A records the exchange and attaches
    # him; the case page shows every note and outcome.
    code = fresh_code(sup_a)
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "anna", code)
        page.goto(f"{base}/console/cases/{case.pk}/")
        page.select_option('select[name="kind"]', "awaiting_exchange")
        page.fill('form:has(button[value="disposition"]) textarea[name="note"]', "In camp 3.")
        page.click('button[value="disposition"]')
        expect(page.locator("#f-disposition")).to_have_text("Awaiting exchange")
        page.click("nav >> text=Exchanges")
        expect(page.locator("#waiting")).to_contain_text(case.number)
        page.fill('#exchange-form input[name="date"]', "02.04.2026")
        page.fill('#exchange-form input[name="place"]', "Sumy region")
        page.fill('#exchange-form input[name="released_by_ukraine"]', "90")
        page.fill('#exchange-form input[name="released_by_russia"]', "101")
        page.click('#exchange-form button[type="submit"]')
        expect(page.locator("h1")).to_contain_text("2026-04-02")
        page.check(f'#attach-form input[value="{case.pk}"]')
        page.click('#attach-form button[value="attach"]')
        expect(page.locator("#released")).to_contain_text(case.number)
        page.click(f'#released a:has-text("{case.number}")')
        expect(page.locator("#f-disposition")).to_have_text("Exchanged")
        expect(page.locator("#f-exchange")).to_contain_text("Sumy region")
        expect(page.locator("#f-disposition-note")).to_contain_text("In camp 3.")
        expect(page.locator("#operations")).to_contain_text("Came out at 05:10, unharmed.")
        expect(page.locator("#operations")).to_contain_text("the crossroads by the mill")
        expect(page.locator("#timeline")).to_contain_text("Unit and story agree; number checked.")
        shot(page, "7-exchanged")
    case.refresh_from_db()
    assert case.status == "surrendered"
    assert case.disposition.kind == "exchanged"
    statuses = list(
        CaseEvent.objects.filter(case=case, kind="status")
        .order_by("created_at")
        .values_list("to_status", flat=True)
    )
    assert statuses == ["verified", "ready", "operation", "surrendered"]
    assert operator2.pk  # a second operator exists but was never needed


def fresh_code(user: User) -> str:
    """A code for another sign-in of the same person within seconds. A TOTP code works once
    and the next one would take 30 seconds, so the test gives the account a new authenticator
    (as a supervisor's reset would) and reads its current code."""
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
