"""The web chat without a browser: posts, transcript, buttons, idempotency, limits, privacy."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from lifeline.cases.models import Case
from lifeline.channels.models import InboundEvent
from lifeline.contacts.models import Identity

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


def post(client: Client, text: str, message_id: str | None = None) -> object:
    page = client.get("/chat/").content.decode()
    mid = message_id or page.split('name="message_id" value="')[1].split('"')[0]
    return client.post("/chat/", {"text": text, "message_id": mid})


def test_first_message_sets_an_anonymous_cookie_and_gets_an_answer() -> None:
    client = Client(
        HTTP_ACCEPT_LANGUAGE="en",
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT="Mozilla/5.0 canary-agent",
    )
    assert "Write anything to begin" in client.get("/chat/").content.decode()
    response = post(client, "Hello")
    assert response.status_code == 302  # type: ignore[attr-defined]
    cookie = client.cookies["lifeline_chat"]
    assert cookie["httponly"]
    assert cookie["path"] == "/chat/"
    assert cookie["samesite"] == "Strict"
    page = client.get("/chat/").content.decode()
    assert "Hello" in page
    assert "Who are you?" in page
    assert 'value="A serviceman, I want to apply"' in page  # answers as buttons
    # The key is stored only encrypted, the secret only as a keyed hash, and nothing about the
    # visitor's address or agent.
    from lifeline.channels import webchat

    identity = Identity.objects.get(channel="web")
    device = webchat.read_cookie(cookie.value)
    assert device is not None
    assert identity.address == device.key
    from tests.test_canary import dump_database

    dump = dump_database()
    assert cookie.value not in dump
    assert device.key not in dump
    assert device.secret not in dump
    assert "203.0.113.9" not in dump
    assert "canary-agent" not in dump


def test_a_whole_application_through_the_web_chat() -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    for text in [
        "Здравствуйте",
        "Военный, хочу подать заявку",
        "Мобилизован",
        "Вебов Веб Вебович",
        "01.02.1990",
        "ВБ-111222",
        "рядовой",
        "в/ч 1",
        "не могу",
        "Один",
        "Телефон при мне",
        "Да, отправить",
    ]:
        assert post(client, text).status_code == 302  # type: ignore[attr-defined]
    case = Case.objects.get()
    assert (case.channel, case.full_name, case.status) == ("web", "Вебов Веб Вебович", "applied")
    assert "кодовое слово" in client.get("/chat/").content.decode()
    assert InboundEvent.objects.filter(status="done", payload__isnull=True).count() == 12


def test_a_double_submit_is_stored_once() -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    post(client, "Hello")
    page = client.get("/chat/").content.decode()
    mid = page.split('name="message_id" value="')[1].split('"')[0]
    client.post("/chat/", {"text": "1", "message_id": mid})
    client.post("/chat/", {"text": "1", "message_id": mid})  # the same form sent again
    assert InboundEvent.objects.filter(channel="web").count() == 2


def test_a_new_web_conversation_is_counted_once_as_a_first_contact() -> None:
    from lifeline.stats.models import StatEvent

    client = Client(HTTP_ACCEPT_LANGUAGE="uk")
    first = client.get("/chat/").content.decode()
    mid = first.split('name="message_id" value="')[1].split('"')[0]
    client.post("/chat/", {"text": "Привіт", "message_id": mid})
    client.post("/chat/", {"text": "Привіт", "message_id": mid})  # the first form, doubled
    post(client, "1")  # and a second message
    counted = StatEvent.objects.filter(kind="contact.new")
    assert list(counted.values_list("channel", "language")) == [("web", "uk")]
    post(Client(HTTP_ACCEPT_LANGUAGE="en"), "Hello")  # another visitor
    assert counted.count() == 2


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "Please write a message first."),
        ("ru", "Сначала напишите сообщение."),
        ("uk", "Спершу напишіть повідомлення."),
    ],
)
def test_empty_message_gets_a_clear_error(language: str, text: str) -> None:
    response = Client(HTTP_ACCEPT_LANGUAGE=language).post("/chat/", {"text": "  "})
    assert response.status_code == 400
    assert text in response.content.decode()


def test_rate_limit_keeps_the_text() -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for i in range(20):
        post(client, f"message {i}")
    response = post(client, "one too many")
    assert response.status_code == 429  # type: ignore[attr-defined]
    body = response.content.decode()  # type: ignore[attr-defined]
    assert "faster than we can read" in body
    assert "one too many</textarea>" in body


def test_end_chat_forgets_the_device() -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    post(client, "Hello")
    client.post("/chat/end/")
    assert "Write anything to begin" in client.get("/chat/").content.decode()


def test_a_telegram_backlog_does_not_delay_the_web_chat() -> None:
    """Channels are taken in turn: 5 web messages behind 60 Telegram updates are answered
    within the first ten events processed."""
    from lifeline.channels import inbox, telegram, webchat
    from tests.channels.fake_telegram import update

    for n in range(60):
        telegram.store_update(update(1_000_000 + n, 9_000_000 + n, "/start"))
    devices = [webchat.Device(f"{n:032x}", "s" * 32) for n in range(5)]
    for number, device in enumerate(devices):
        webchat.submit(device=device, message_id=f"{number:08x}", text="Привет", language="ru")
    assert inbox.process_all(limit=10) == 10
    web = InboundEvent.objects.filter(channel="web")
    assert web.filter(status="done").count() == 5
    assert InboundEvent.objects.filter(channel="telegram", status="done").count() == 5
