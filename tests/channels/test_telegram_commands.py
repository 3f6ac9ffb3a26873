"""telegram_setup and telegram_poll against the fake Bot API server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.channels.management.commands.telegram_poll import poll
from lifeline.channels.models import InboundEvent
from tests.channels.fake_telegram import FakeTelegram, update

pytestmark = pytest.mark.django_db(transaction=True)

HOOK_SECRET = "hook-secret-value_0123456789-ABCDEFGHIJ"


@pytest.fixture
def fake(settings: SettingsWrapper) -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.TELEGRAM_WEBHOOK_SECRET = HOOK_SECRET
    settings.LIFELINE_TELEGRAM_API_BASE = server.base
    yield server
    server.stop()


def test_setup_registers_webhook_commands_and_descriptions(fake: FakeTelegram) -> None:
    call_command("telegram_setup", "--url", "https://hotline.example/", stdout=StringIO())
    (hook,) = fake.sent("setWebhook")
    # The secret travels in the header only, never in the address.
    assert hook.data["url"] == "https://hotline.example/telegram/webhook/"
    assert hook.data["secret_token"] == HOOK_SECRET
    commands = fake.sent("setMyCommands")
    assert len(commands) == 3
    by_language = {c.data.get("language_code", "ru"): c.data["commands"] for c in commands}
    assert by_language["uk"][0] == {"command": "start", "description": "Почати спочатку"}
    assert by_language["en"][2]["description"] == "Erase my data"
    assert len(fake.sent("setMyDescription")) == 3


def test_polling_feeds_the_same_inbox(fake: FakeTelegram) -> None:
    fake.updates = [update(900, 7001, "/start"), update(901, 7001, "/lang en")]
    stop = threading.Event()
    thread = threading.Thread(target=poll, args=(stop,), kwargs={"timeout": 0}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while InboundEvent.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(20)
    assert sorted(InboundEvent.objects.values_list("external_id", flat=True)) == ["900", "901"]
    offsets = [c.data.get("offset") for c in fake.sent("getUpdates")]
    assert "902" in offsets  # acknowledged only after storing


@pytest.mark.parametrize(
    "secret", ["", "too-short", "spaces are not allowed in a secret token", "ж" * 40]
)
def test_setup_refuses_a_weak_or_invalid_secret(
    fake: FakeTelegram, settings: SettingsWrapper, secret: str
) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = secret
    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_SECRET"):
        call_command("telegram_setup", "--url", "https://hotline.example/", stdout=StringIO())
    assert not fake.sent("setWebhook")
