"""Canary for code words: shown once, stored nowhere.

A whole application and a stage-2 re-identification go through the web chat, through Telegram
(aiogram against the fake Bot API) and through the operator's phone script, with marker code
words; an operator also confirms a man at *mark ready* by typing what he says. Afterwards the
marker is in no table of a full database dump (with ``django_session`` decoded), in no captured
log line, and in the HTML of no console page or chat transcript. The person did see the words,
once, where each channel shows them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext

from lifeline.cases import codenames, workflow
from lifeline.cases.models import Case, CaseStatus
from lifeline.channels import inbox, outbox, telegram
from lifeline.channels.models import InboundEvent, OutboundMessage
from lifeline.conversations.models import Conversation, FlowRun
from tests.channels.fake_telegram import FakeTelegram, update
from tests.factories import CHECKLIST, Staff, create_case, login_verified
from tests.test_canary import dump_database

pytestmark = pytest.mark.django_db(transaction=True)

MARK = secrets.token_hex(4)
WORDS = " ".join(f"{word}{MARK}" for word in ("маркер", "слово", "сова", "мост", "лес", "луна"))

INTAKE = [
    "Военный, хочу подать заявку",
    "2",
    "Примеров Фёдор Иванович",
    "02.07.1987",
    None,  # the service number goes here
    "сержант",
    "в/ч 00002",
    "не могу",
    "Один",
    "Забрали, есть второй",
    "Да, отправить",
]
FRONT = "Я уже подавал заявку, я на фронте"


def intake(service_number: str) -> list[str]:
    return [service_number if text is None else text for text in INTAKE]


@pytest.fixture(autouse=True)
def _marker_code_words(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(codenames, "generate", lambda: WORDS)
    cache.clear()
    yield
    cache.clear()


def chat_post(client: Client, text: str) -> None:
    page = client.get("/chat/").content.decode()
    message_id = page.split('name="message_id" value="')[1].split('"')[0]
    response = client.post("/chat/", {"text": text, "message_id": message_id})
    assert response.status_code == 302, response.content.decode()[:500]


def telegram_say(sender: telegram.TelegramSender, chat: int, texts: list[str]) -> None:
    for text in texts:
        update_id = 10_000 + secrets.randbelow(10**8)
        telegram.store_update(update(update_id, chat, text))
        for _ in range(200):
            worked = inbox.process_all(limit=50) + outbox.send_all({"telegram": sender}, limit=50)
            if (
                not worked
                and not OutboundMessage.objects.filter(
                    status="pending", channel="telegram"
                ).exists()
            ):
                break
            if not worked:
                import time

                time.sleep(0.1)


def phone_script(client: Client, answers: list[str]) -> str:
    """Run operator_call in the console; returns the HTML of the last answer's response."""
    client.post(reverse("console:call_new"))
    run = FlowRun.objects.filter(flow="operator_call").order_by("-started_at")[0]
    html = ""
    for answer in answers:
        response = client.post(reverse("console:call", kwargs={"run_id": run.pk}), {"text": answer})
        html = response.content.decode()
        if response.status_code == 302:
            html = client.get(response["Location"]).content.decode()
    return html


def assert_no_marker(text: str, where: str) -> None:
    assert MARK not in text, f"code words found in {where}"


def test_code_words_are_shown_once_and_stored_nowhere(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    staff = Staff()

    # --- Web chat: stage 1, the words shown once ------------------------------------------
    web = Client(HTTP_ACCEPT_LANGUAGE="ru")
    chat_post(web, "Здравствуйте")
    for text in intake("ВЧ-000111"):
        chat_post(web, text)
    first = web.get("/chat/").content.decode()
    assert WORDS in first  # the one time they are shown
    again = web.get("/chat/").content.decode() + web.get("/chat/transcript/").content.decode()
    assert_no_marker(again, "the web chat shown a second time")
    web_case = Case.objects.get(channel="web")
    workflow.case_verify(case=web_case, actor=staff.verifier, checklist=CHECKLIST)

    # --- Web chat: stage 2 from another device --------------------------------------------
    front = Client(HTTP_ACCEPT_LANGUAGE="ru")
    for text in ["Здравствуйте", FRONT, "ВЧ-000111", WORDS]:
        chat_post(front, text)
    transcript = front.get("/chat/transcript/").content.decode()
    assert "мы вас узнали" in transcript
    assert_no_marker(transcript, "the stage-2 web transcript")

    # --- Telegram: stage 1 and stage 2 from a second phone ------------------------------
    sender = telegram.TelegramSender()
    try:
        telegram_say(sender, 7001, ["/start", *intake("ВЧ-000222")])
        delivered = [call.data["text"] for call in fake.sent() if WORDS in call.data["text"]]
        assert len(delivered) == 1  # the words reached the person, once
        tg_case = Case.objects.get(channel="telegram")
        workflow.case_verify(case=tg_case, actor=staff.verifier, checklist=CHECKLIST)
        telegram_say(sender, 7002, ["/start", FRONT, "ВЧ-000222", WORDS])
    finally:
        sender.close()
    assert any("мы вас узнали" in call.data["text"] for call in fake.sent())

    # --- Phone script: stage 1 and stage 2 ------------------------------------------------
    console = Client(HTTP_ACCEPT_LANGUAGE="ru")
    login_verified(console, staff.operator)
    shown = phone_script(
        console,
        [
            "Ещё не на фронте — новая заявка",
            "Мобилизован",
            "Примеров Фёдор Иванович",
            "02.07.1987",
            "Знает",
            "ВЧ-000333",
            "рядовой",
            "в/ч 00002",
            "не говорит",
            "Забрали, есть второй",
            "Согласен — оформить",
        ],
    )
    assert WORDS in shown  # read out to the caller, once
    run = FlowRun.objects.filter(flow="operator_call").order_by("-started_at")[0]
    reloaded = console.get(reverse("console:call", kwargs={"run_id": run.pk})).content.decode()
    assert_no_marker(reloaded, "the phone script page reloaded")
    phone_case = Case.objects.get(channel="phone")
    workflow.case_verify(case=phone_case, actor=staff.verifier, checklist=CHECKLIST)
    confirmed = phone_script(console, ["На фронте — заявку уже подавал", "ВЧ-000333", WORDS])
    assert "Личность подтверждена" in confirmed

    # --- Mark ready in the console: the operator types what the man says -----------------
    typed = create_case(actor=staff.operator, via="", service_number="ВЧ-000444")
    workflow.case_set_codename(case=typed, codename=WORDS)
    workflow.case_verify(case=typed, actor=staff.verifier, checklist=CHECKLIST)
    response = console.post(
        reverse("console:case_action", kwargs={"case_id": typed.pk}),
        {"action": "mark_ready", "codename": WORDS},
    )
    assert response.status_code == 302
    typed.refresh_from_db()
    assert typed.status == CaseStatus.READY

    # --- Everything staff can open, and the chat pages --------------------------------------
    supervisor = Client()
    login_verified(supervisor, staff.supervisor)
    pages = [reverse("console:queue"), reverse("console:case_list")]
    for case in Case.objects.all():
        pages.append(reverse("console:case_detail", kwargs={"case_id": case.pk}))
    for conversation in Conversation.objects.all():
        pages.append(reverse("console:conversation", kwargs={"conversation_id": conversation.pk}))
    seen = ""
    for page in pages:
        response = supervisor.get(page)
        assert response.status_code == 200, page
        assert_no_marker(response.content.decode(), page)
        seen += response.content.decode()
    for client in (web, front):
        assert_no_marker(client.get("/chat/").content.decode(), "a chat page")

    # --- The database, the sessions and the logs -----------------------------------------
    assert not InboundEvent.objects.filter(status="pending").exists()
    assert_no_marker(dump_database(), "the database dump")
    for session in Session.objects.all():
        assert_no_marker(repr(session.get_decoded()), "a decoded session")
    assert_no_marker(caplog.text, "the logs")
    # What staff may know: that words were issued and whether an attempt matched.
    with translation.override("ru"):
        assert escape(gettext("[code words entered — matched]")) in seen
        assert escape(gettext("[code words: shown once, not kept]")) in seen
