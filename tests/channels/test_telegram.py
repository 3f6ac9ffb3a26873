"""Telegram end to end through aiogram against a fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.cases.models import Case
from lifeline.channels import inbox, outbox
from lifeline.channels.models import InboundEvent, OutboundMessage
from lifeline.channels.telegram import TelegramSender
from tests.channels.fake_telegram import FakeTelegram, callback, update

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cret-header-value-only-0123456789abcdef"


@pytest.fixture
def fake(settings: SettingsWrapper) -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.LIFELINE_TELEGRAM_API_BASE = server.base
    settings.LIFELINE_TELEGRAM_TIMEOUT = 2.0
    outbox.PER_CHAT_INTERVAL = outbox.timedelta(seconds=1)
    yield server
    server.stop()


def webhook(client: Client, data: dict[str, object], secret: str = SECRET) -> int:
    response = client.post(
        "/telegram/webhook/",
        data=json.dumps(data),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret,
    )
    return response.status_code


def drain(sender: TelegramSender, *, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        worked = inbox.process_all(limit=100) + outbox.send_all({"telegram": sender}, limit=100)
        pending = (
            OutboundMessage.objects.filter(status="pending").exists()
            or InboundEvent.objects.filter(status="pending").exists()
        )
        if not worked and not pending:
            return
        if not worked:
            time.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


def test_webhook_updates_get_replies_at_the_bot_api(fake: FakeTelegram) -> None:
    client = Client()
    assert webhook(client, update(1, 5551, "/start")) == 200
    sender = TelegramSender()
    try:
        drain(sender)
        (first,) = fake.sent()
        assert first.data["chat_id"] == "5551"
        assert "Кто вы?" in first.data["text"]
        buttons = first.data["reply_markup"]["inline_keyboard"]
        assert buttons[0][0] == {"text": "1. Военный, хочу подать заявку", "callback_data": "b:0"}
        # Pressing a button: answered, the message edited, the next question sent.
        assert (
            webhook(
                client,
                callback(
                    2, 5551, "b:0", int(first.data.get("message_id", 1001)), first.data["text"]
                ),
            )
            == 200
        )
        drain(sender)
    finally:
        sender.close()
    assert len(fake.sent("answerCallbackQuery")) == 1
    (edit,) = fake.sent("editMessageText")
    assert edit.data["text"].endswith("✓ Военный, хочу подать заявку")
    assert "Как вы попали на службу?" in fake.sent()[-1].data["text"]


def test_the_webhook_checks_its_secret(fake: FakeTelegram) -> None:
    client = Client()
    assert webhook(client, update(1, 5552, "hi"), secret="wrong") == 404
    assert webhook(client, update(1, 5552, "hi"), secret=SECRET[:-1]) == 404
    assert webhook(client, update(1, 5552, "hi"), secret="") == 404
    no_header = client.post(
        "/telegram/webhook/",
        data=json.dumps(update(2, 5552, "hi")),
        content_type="application/json",
    )
    assert no_header.status_code == 404
    assert not no_header.content  # no detail
    # The secret is no longer a path segment: the old address is simply not found.
    response = client.post(
        f"/telegram/webhook/{SECRET}/",
        data=json.dumps(update(2, 5552, "hi")),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET,
    )
    assert response.status_code == 404
    assert (
        client.post(
            "/telegram/webhook/",
            data="not json",
            content_type="application/json",
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET,
        ).status_code
        == 400
    )
    assert not InboundEvent.objects.exists()


def test_the_same_update_twice_is_processed_once(fake: FakeTelegram) -> None:
    client = Client()
    assert webhook(client, update(10, 5553, "/start")) == 200
    assert webhook(client, update(10, 5553, "/start")) == 200  # Telegram redelivers
    sender = TelegramSender()
    try:
        drain(sender)
    finally:
        sender.close()
    assert InboundEvent.objects.count() == 1
    assert len(fake.sent()) == 1


def test_other_files_get_a_polite_request_for_text_and_are_not_kept(fake: FakeTelegram) -> None:
    client = Client()
    webhook(
        client,
        update(20, 5554, None, document={"file_id": "F", "file_unique_id": "U", "file_size": 9}),
    )
    sender = TelegramSender()
    try:
        drain(sender)
    finally:
        sender.close()
    (reply,) = fake.sent()
    assert "текстом" in reply.data["text"]
    assert InboundEvent.objects.get().payload is None


def test_failures_and_429_are_retried_until_each_reply_arrives_once(
    fake: FakeTelegram,
) -> None:
    """30% of calls fail with 429 or 500: every reply still arrives exactly once, in order,
    and no chat ever gets two messages within a second."""
    fake.fail_ratio = 0.3
    client = Client()
    users = [6000 + i for i in range(4)]
    update_id = 100
    for user in users:
        for text in ["/start", "/lang en", "/lang uk"]:
            update_id += 1
            webhook(client, update(update_id, user, text))
    sender = TelegramSender()
    try:
        drain(sender, seconds=120)
    finally:
        sender.close()
    assert fake.failures > 0
    expected = OutboundMessage.objects.filter(kind="message").count()
    assert OutboundMessage.objects.filter(status="sent").count() == expected
    sent = fake.sent()
    assert len(sent) == expected  # none lost, none doubled
    for user in users:
        mine = [c for c in sent if c.data["chat_id"] == str(user)]
        texts = [c.data["text"] for c in mine]
        assert "Кто вы?" in texts[0]
        assert texts[1] == "Language changed."
        assert texts[-2] == "Мову змінено."
        gaps = [b.at - a.at for a, b in zip(mine, mine[1:], strict=False)]
        assert all(gap >= 0.95 for gap in gaps), gaps


def test_a_hanging_api_is_a_timeout_then_a_retry(fake: FakeTelegram) -> None:
    fake.hang_next = 1
    client = Client()
    webhook(client, update(300, 5555, "/start"))
    sender = TelegramSender()
    try:
        drain(sender, seconds=60)
    finally:
        sender.close()
    assert len(fake.sent()) == 1
    assert OutboundMessage.objects.get().attempts == 1


def test_an_application_through_telegram(fake: FakeTelegram) -> None:
    client = Client()
    answers = [
        "/start",
        "1",
        "Мобилизован",
        "Телеграмов Иван Иванович",
        "05.05.1990",
        "ТГ-100200",
        "рядовой",
        "в/ч 5",
        "Курск",
        "Один",
        "Телефон при мне",
        "да",
    ]
    for i, text in enumerate(answers, start=1):
        webhook(client, update(400 + i, 5556, text))
    sender = TelegramSender()
    try:
        drain(sender, seconds=60)
    finally:
        sender.close()
    case = Case.objects.get()
    assert (case.channel, case.full_name) == ("telegram", "Телеграмов Иван Иванович")
    assert "кодовое слово" in fake.sent()[-2].data["text"]


def test_contact_location_and_edited_messages_become_input(fake: FakeTelegram) -> None:
    from lifeline.conversations.models import Message

    client = Client()
    webhook(client, update(500, 5557, "/start"))
    webhook(
        client, update(501, 5557, None, contact={"phone_number": "+79990001122", "first_name": "X"})
    )
    webhook(
        client, update(502, 5557, None, location={"latitude": 50.123456, "longitude": 36.654321})
    )
    edited = update(503, 5557, "исправленный текст")
    edited["edited_message"] = edited.pop("message")
    webhook(client, edited)
    sender = TelegramSender()
    try:
        drain(sender)
    finally:
        sender.close()
    inbound = [m.text for m in Message.objects.filter(direction="in").order_by("created_at")]
    assert inbound == ["/start", "+79990001122", "50.1235, 36.6543", "исправленный текст"]


def test_the_bot_sends_at_most_thirty_a_second(fake: FakeTelegram) -> None:
    from lifeline.contacts.services import identity_get_or_create
    from lifeline.conversations.models import Conversation

    for i in range(40):
        identity = identity_get_or_create(channel="telegram", address=str(9100 + i))
        conversation = Conversation.objects.create(
            contact=identity.contact, identity=identity, channel="telegram"
        )
        OutboundMessage.objects.create(
            conversation=conversation, channel="telegram", text=f"hello {i}", seq=1
        )
    sender = TelegramSender()
    try:
        first_burst = outbox.send_all({"telegram": sender}, limit=100)
        assert first_burst <= 40
        drain(sender)
    finally:
        sender.close()
    times = sorted(call.at for call in fake.sent())
    assert len(times) == 40
    # No one-second window holds more than the bot's budget.
    for i, start in enumerate(times):
        in_window = [t for t in times[i:] if t - start < 1.0]
        assert len(in_window) <= outbox.GLOBAL_PER_SECOND
