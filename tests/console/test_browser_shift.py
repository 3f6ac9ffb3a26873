"""A shift in headless Chromium, as Chatwoot-grade work should feel (issue 14's stories):

(a) an applicant finishes in the web chat, asks "what now?", and the question reaches an
    operator's queue with its preview (JavaScript on and off in the web chat);
(c) the verifier checks that application against what he wrote, with the checklist;
(b) a man at the front fails the code words three times: the queue row is marked front, the
    operator who takes it (with the N key) checks his words by hand, sees the case, and marks it
    ready;
(e) a supervisor writes a canned answer; an operator puts it in the box, edits it, and sends it
    with Ctrl+Enter; the tab title counts what waits;
(f) a photo and a voice message sent through the fake Bot API appear in the console, and the
    stored photo has no EXIF.

The ORM is used only between browser sessions (see tests/browser.py)."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from django.core.cache import cache
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer

from lifeline.cases import workflow
from lifeline.cases.models import Case
from lifeline.channels import outbox
from lifeline.channels.telegram import TelegramSender
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.models import (
    Attachment,
    CannedAnswer,
    Conversation,
    ConversationStatus,
    Message,
    WaitingReason,
)
from lifeline.core.models import Role
from tests.browser import ARTIFACTS, browser_page
from tests.channels.fake_telegram import FakeTelegram, update
from tests.channels.test_telegram import SECRET, drain, webhook
from tests.channels.test_telegram_media import OGG, jpeg
from tests.channels.test_webchat_browser import converse
from tests.console.test_browser_story import account, fresh_code, sign_in
from tests.factories import Staff, advance, create_case, say, telegram_conversation

pytestmark = pytest.mark.django_db(transaction=True)


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"shift-{name}.png"), full_page=True)  # type: ignore[attr-defined]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_what_now_after_applying_reaches_the_queue(
    live_server: LiveServer, javascript: bool
) -> None:
    base = live_server.url
    operator, _code = account(Role.OPERATOR, "olga")
    with browser_page(locale="ru-RU", javascript=javascript, viewport=(390, 844)) as page:
        converse(page, base, javascript=javascript)
        page.fill("#chat-text", "Спасибо — а что теперь, мне кто-то напишет?")
        page.click("button.send")
        page.wait_for_load_state("load")
        expect(page.locator(".transcript")).to_contain_text("а что теперь")
        # Not the greeting again: the intake does not restart.
        assert page.locator(".transcript").inner_text().count("Кто вы?") == 1
    conversation = Conversation.objects.get(channel="web")
    assert conversation.status == ConversationStatus.WAITING
    assert conversation.waiting_reason == WaitingReason.AFTER_APPLICATION
    code = fresh_code(operator)
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "olga", code)
        page.goto(f"{base}/console/queue/")
        row = page.locator("#queue tbody tr").first
        expect(row).to_contain_text("Wrote after applying")
        expect(row.locator("td.preview")).to_contain_text("а что теперь, мне кто-то напишет?")
        expect(row.locator(".unread-count")).to_have_text("1")
        shot(page, f"a-queue-{'js' if javascript else 'nojs'}")
    if not javascript:
        return
    # (c) The verifier checks the application against what he wrote, with the checklist.
    case = Case.objects.get(channel="web")
    verifier, v_code = account(Role.VERIFIER, "vera")
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "vera", v_code)
        page.click(".console-nav >> text=Verification")
        # (A quick application may be among those to look twice at: either part of the queue.)
        page.click(f":is(#verification-queue, #suspicion-queue) a:has-text('{case.number}')")
        timeline = page.locator(".timeline-message.in")
        expect(timeline.first).to_be_visible()
        expect(page.locator("main")).to_contain_text("Браузеров Иван Петрович")
        expect(page.locator("main")).to_contain_text("а что теперь")
        for box in page.locator('#verify-form input[type="checkbox"]').all():
            box.check()
        page.fill('#verify-form textarea[name="note"]', "Name, unit and story agree with the chat.")
        page.click('#verify-form button[value="verify"]')
        expect(page.locator("#case-status")).to_have_text("Verified")
        shot(page, "c-verified-from-transcript")
    case.refresh_from_db()
    assert case.status == "verified"
    assert verifier.pk


def test_a_man_at_the_front_who_failed_his_code_words_is_reidentified_by_the_operator(
    live_server: LiveServer,
) -> None:
    cache.clear()
    base = live_server.url
    staff = Staff()
    case = create_case(service_number="ПР-000177")
    advance(case, "verified", staff)
    words = "берёза чайник сова мост карандаш лес"
    workflow.case_set_codename(case=case, codename=words)
    chat = telegram_conversation("700900177", "ru")
    say(chat, "Я на фронте, хочу сдаться", "ПР-000177")
    for _ in range(3):
        say(chat, "совсем не те слова")
    chat.refresh_from_db()
    assert (chat.priority, chat.waiting_reason) == (1, WaitingReason.FRONT_UNVERIFIED)
    operator, code = account(Role.OPERATOR, "olga")
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "olga", code)
        page.goto(f"{base}/console/queue/")
        row = page.locator("#queue tbody tr.urgent").first
        expect(row).to_contain_text("Front")
        expect(row).to_contain_text("At the front, not yet identified")
        page.keyboard.press("n")  # the next item: the front row first
        page.wait_for_url(f"**/console/conversations/{chat.pk}/")
        expect(page.locator(".reason")).to_contain_text("At the front, not yet identified")
        expect(page.locator("#linked-cases")).to_have_count(0)  # nothing is linked yet
        page.click('button[value="take"]')
        page.fill("#reply-text", "Я оператор. Напишите, пожалуйста, кодовые слова ещё раз здесь.")
        page.keyboard.press("Control+Enter")
        expect(page.locator(".transcript")).to_contain_text("Я оператор")
        # A wrong try is refused in words and counted; the right words link his case.
        page.fill('#reidentify input[name="service_number"]', "ПР-000177")
        page.fill('#reidentify input[name="codename"]', "не те")
        page.click('#reidentify button[type="submit"]')
        expect(page.locator(".messages")).to_contain_text("do not match")
        page.fill('#reidentify input[name="service_number"]', "ПР-000177")
        page.fill('#reidentify input[name="codename"]', "БЕРЁЗА  Чайник сова мост карандаш лес")
        page.click('#reidentify button[type="submit"]')
        linked = page.locator("#linked-cases")
        expect(linked).to_contain_text(case.number)
        expect(linked).to_contain_text("yes, by code words")
        expect(page.locator(".reason")).to_contain_text("At the front, identified")
        shot(page, "b-reidentified")
        page.click(f"#linked-cases a:has-text('{case.number}')")
        page.fill('#ready-form input[name="codename"]', words)
        page.click('#ready-form button[value="mark_ready"]')
        expect(page.locator("#case-status")).to_have_text("Ready")
    case.refresh_from_db()
    assert case.status == "ready"
    assert operator.pk


def test_a_canned_answer_written_by_a_supervisor_is_edited_before_sending(
    live_server: LiveServer,
) -> None:
    base = live_server.url
    _supervisor, s_code = account(Role.SUPERVISOR, "anna")
    _operator, o_code = account(Role.OPERATOR, "olga")
    identity = identity_get_or_create(channel="web", address="browser-canned-device")
    chat = Conversation.objects.create(
        contact=identity.contact,
        identity=identity,
        channel="web",
        language="en",
        status="waiting",
        waiting_since=timezone.now(),
    )
    Message.objects.create(conversation=chat, direction="in", text="Is anyone there?")
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "anna", s_code)
        page.click(".console-nav >> text=Canned answers")
        page.select_option('#canned-form select[name="language"]', "en")
        page.fill('#canned-form input[name="title"]', "Safe place")
        page.fill('#canned-form textarea[name="text"]', "Stay where you are, under cover, NAME.")
        page.click('#canned-form button[type="submit"]')
        expect(page.locator("#canned")).to_contain_text("Safe place")
    assert CannedAnswer.objects.filter(title="Safe place", language="en").exists()
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "olga", o_code)
        page.goto(f"{base}/console/queue/")
        expect(page).to_have_title(re.compile(r"^\(1\) "))  # one waits: the tab says so
        page.click(f'a[href="/console/conversations/{chat.pk}/"]')
        page.click('button[value="take"]')
        page.click("a.canned-answer:has-text('Safe place')")
        box = page.locator("#reply-text")
        expect(box).to_have_value("Stay where you are, under cover, NAME.")
        expect(page.locator(".transcript")).not_to_contain_text("under cover", timeout=1000)
        box.fill(box.input_value().replace("NAME", "Ivan"))
        box.press("Control+Enter")
        expect(page.locator(".transcript")).to_contain_text(
            "Stay where you are, under cover, Ivan."
        )
        shot(page, "e-canned")
    sent = [m.text for m in Message.objects.filter(conversation=chat, direction="out")]
    assert sent == ["Stay where you are, under cover, Ivan."]


def test_a_photo_and_a_voice_message_from_telegram_appear_in_the_console(
    live_server: LiveServer, settings: SettingsWrapper
) -> None:
    from django.test import Client

    base = live_server.url
    fake = FakeTelegram().start()
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.LIFELINE_TELEGRAM_API_BASE = fake.base
    settings.LIFELINE_TELEGRAM_TIMEOUT = 2.0
    outbox.PER_CHAT_INTERVAL = outbox.timedelta(seconds=0)
    photo = jpeg((800, 600))
    fake.files.update({"PH": photo, "VO": OGG})
    client = Client()
    sizes = [{"file_id": "PH", "file_unique_id": "p", "width": 800, "height": 600}]
    voice = {"file_id": "VO", "file_unique_id": "v", "duration": 4, "file_size": len(OGG)}
    for data in (
        update(1, 7300, "оператор", language="ru"),
        update(2, 7300, None, photo=sizes, caption="мой военный билет"),
        update(3, 7300, None, voice=voice),
    ):
        assert webhook(client, data) == 200
    sender = TelegramSender()
    try:
        drain(sender)
    finally:
        sender.close()
        fake.stop()
    chat = Conversation.objects.get()
    Conversation.objects.filter(pk=chat.pk).update(status="waiting", waiting_since=timezone.now())
    stored = Attachment.objects.get(kind="photo")
    operator, code = account(Role.OPERATOR, "olga")
    with browser_page(locale="en-US") as page:
        sign_in(page, base, "olga", code)
        page.goto(f"{base}/console/conversations/{chat.pk}/")
        page.click('button[value="take"]')
        image = page.locator("img.media-photo")
        expect(image).to_be_visible()
        page.wait_for_function(
            "() => { const i = document.querySelector('img.media-photo');"
            " return i && i.complete && i.naturalWidth > 0; }"
        )
        assert page.evaluate("document.querySelector('img.media-photo').naturalWidth") == 600
        expect(page.locator(".transcript")).to_contain_text("мой военный билет")
        audio = page.locator("audio.media-voice")
        expect(audio).to_have_count(1)
        assert (
            page.evaluate(
                "fetch(document.querySelector('audio.media-voice').src)"
                ".then(r => r.headers.get('content-type'))"
            )
            == "audio/ogg"
        )
        shot(page, "f-media")
    with Image.open(BytesIO(stored.content or b"")) as kept:
        assert not kept.getexif()
        assert kept.info.get("exif") is None
    assert Case.objects.count() == 0
    assert operator.pk
