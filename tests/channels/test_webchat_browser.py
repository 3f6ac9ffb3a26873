"""The web chat completes soldier_intake in headless Chromium, with JavaScript on and off,
on a phone-sized screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from lifeline.cases.models import Case
from tests.browser import ARTIFACTS, browser_page

pytestmark = pytest.mark.django_db(transaction=True)

# (typed text, or None to press the button with that label)
ANSWERS: list[tuple[str | None, str]] = [
    ("Здравствуйте", ""),
    (None, "Военный, хочу подать заявку"),
    (None, "Мобилизован"),
    ("Браузеров Иван Петрович", ""),
    ("31.02.1990", ""),  # not a date: the retry message
    ("12.03.1991", ""),
    ("БР-777888", ""),
    ("рядовой", ""),
    ("в/ч 00007", ""),
    ("не могу", ""),
    (None, "Один"),
    (None, "Забрали, есть второй"),
    (None, "Да, отправить"),
]


def converse(page: Page, base: str, *, javascript: bool) -> None:
    page.goto(f"{base}/chat/")
    expect(page.locator("h1")).to_have_text("Чат с горячей линией")
    for text, button in ANSWERS:
        if text is not None:
            page.fill("#chat-text", text)
            page.click("button.send")
        else:
            page.get_by_role("button", name=button, exact=True).click()
        page.wait_for_load_state("load")
        if text == "31.02.1990":
            expect(page.locator(".transcript")).to_contain_text("Напишите её так: 12.03.1995")
    expect(page.locator(".transcript")).to_contain_text("Заявка принята")
    expect(page.locator(".transcript")).to_contain_text("Ваше кодовое слово:")
    suffix = "js" if javascript else "nojs"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"webchat-{suffix}.png"), full_page=True)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_web_chat_completes_the_intake(live_server: LiveServer, javascript: bool) -> None:
    errors: list[str] = []
    with browser_page(locale="ru-RU", javascript=javascript, viewport=(390, 844)) as page:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        converse(page, live_server.url, javascript=javascript)
        if javascript:
            # The refresh script runs under the Content-Security-Policy without complaint.
            assert page.evaluate("typeof fetch") == "function"
    assert errors == []
    case = Case.objects.get()
    assert (case.channel, case.full_name, case.status) == (
        "web",
        "Браузеров Иван Петрович",
        "applied",
    )
    assert case.phone_situation == "second_phone"


def test_a_slow_answer_to_a_message_does_not_split_the_chat(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every message changes the chat cookie. On a slow answer the page's 3-second refresh
    used to fire while a message was on its way, find the old cookie no longer current and
    reload the page, cancelling the send before the new cookie arrived: the chat split in two.
    Here the answer to each message takes 4 seconds."""
    import time

    from lifeline.channels import inbox
    from lifeline.conversations.models import Conversation

    real = inbox.process_all

    def slow(*args: object, **kwargs: object) -> int:
        time.sleep(4)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(inbox, "process_all", slow)
    with browser_page(locale="ru-RU", javascript=True) as page:
        page.goto(f"{live_server.url}/chat/")
        for marker in ("первое-сообщение", "второе-сообщение", "третье-сообщение"):
            page.fill("#chat-text", marker)
            page.click("button.send")
            page.wait_for_load_state("load")
            expect(page.locator(".transcript")).to_contain_text(marker)
        for marker in ("первое-сообщение", "второе-сообщение"):
            expect(page.locator(".transcript")).to_contain_text(marker)
    assert Conversation.objects.filter(channel="web").count() == 1
