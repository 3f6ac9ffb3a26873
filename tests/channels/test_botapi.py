"""The Bot API client: every answer Telegram can give maps to one error the outbox acts on, and
the calls it makes are ones aiogram's models of the Bot API accept."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from lifeline.channels import botapi
from tests.channels.fake_telegram import FakeTelegram


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


def call(api: botapi.BotApi, method: str, params: dict[str, Any] | None = None) -> Any:
    async def go() -> Any:
        try:
            return await api.call(method, params)
        finally:
            await api.close()

    return asyncio.run(go())


def test_a_message_with_buttons_is_a_call_aiogram_accepts(fake: FakeTelegram) -> None:
    api = botapi.BotApi("1:T", base=fake.base, timeout=2)
    sent = call(
        api,
        "sendMessage",
        {"chat_id": 5, "text": "Кто вы?", "reply_markup": botapi.keyboard(["Военный", "Родич"])},
    )
    assert isinstance(sent, dict)
    assert sent["message_id"] > 0
    (made,) = fake.sent()
    assert made.data["reply_markup"]["inline_keyboard"][1][0] == {
        "text": "2. Родич",
        "callback_data": "b:1",
    }


def test_the_fake_refuses_what_aiogram_would_refuse(fake: FakeTelegram) -> None:
    """The check that keeps this client honest is itself checked: a call without its chat."""
    api = botapi.BotApi("1:T", base=fake.base, timeout=2)
    with pytest.raises(botapi.BadRequest):
        call(api, "sendMessage", {"text": "no chat"})
    assert fake.invalid
    assert "chat_id" in fake.invalid[0]
    fake.invalid.clear()  # expected here; stop() checks the list is empty


def refusal(code: int) -> dict[str, Any]:
    return {"ok": False, "error_code": code, "description": "words"}


@pytest.mark.parametrize(
    ("status", "body", "error", "outcome"),
    [
        (400, refusal(400), "BadRequest", "give_up"),
        (401, refusal(401), "Unauthorized", "retry"),
        (403, refusal(403), "Forbidden", "give_up"),
        (404, refusal(404), "NotFound", "retry"),
        (409, refusal(409), "Conflict", "retry"),
        (502, None, "ServerError", "retry"),
        (418, refusal(418), "UnexpectedAnswer", "retry"),
        (503, refusal(503), "ServerError", "retry"),
        (200, {"ok": False, "error_code": 403}, "Forbidden", "give_up"),  # the body's code wins
    ],
)
def test_every_refusal_maps_to_an_error_and_what_to_do(
    status: int, body: Any, error: str, outcome: str
) -> None:
    mapped = botapi.error_for(status, body)
    assert type(mapped).__name__ == error
    assert mapped.outcome == outcome


def test_a_429_carries_how_long_to_wait() -> None:
    body = {"ok": False, "error_code": 429, "parameters": {"retry_after": 7}}
    mapped = botapi.error_for(429, body)
    assert isinstance(mapped, botapi.TooManyRequests)
    assert mapped.retry_after == 7.0
    bare = botapi.error_for(429, None)
    assert isinstance(bare, botapi.TooManyRequests)
    assert bare.retry_after > 0  # no number given: still a pause


def test_errors_come_from_the_server_as_well(fake: FakeTelegram) -> None:
    api = botapi.BotApi("1:T", base=fake.base, timeout=2)
    fake.errors_next = [401]
    with pytest.raises(botapi.Unauthorized):
        call(api, "sendMessage", {"chat_id": 1, "text": "x"})
    fake.errors_next = [429]
    with pytest.raises(botapi.TooManyRequests) as caught:
        call(api, "sendMessage", {"chat_id": 1, "text": "x"})
    assert caught.value.retry_after == 1.0


def test_no_server_and_a_hanging_server_are_network_errors(fake: FakeTelegram) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket is closed
    with pytest.raises(botapi.NetworkError):
        call(botapi.BotApi("1:T", base=f"http://127.0.0.1:{closed}", timeout=2), "getMe")
    fake.hang_next = 1
    with pytest.raises(botapi.NetworkError):
        call(botapi.BotApi("1:T", base=fake.base, timeout=0.5), "getMe")


def test_a_download_stops_at_its_limit(fake: FakeTelegram) -> None:
    fake.files["big"] = b"x" * 200_000
    api = botapi.BotApi("1:T", base=fake.base, timeout=2)

    async def go(limit: int) -> bytes:
        try:
            return await api.download("files/big", limit=limit)
        finally:
            await api.close()

    assert len(asyncio.run(go(300_000))) == 200_000
    with pytest.raises(botapi.FileTooLarge):
        asyncio.run(go(100_000))


def test_the_token_is_never_in_its_repr() -> None:
    assert "SECRET" not in repr(botapi.BotApi("123:SECRET", base="http://x"))


def test_the_worker_and_the_poller_do_not_import_aiogram() -> None:
    """aiogram's models of the whole Bot API cost 110 MB in every process importing them (the
    worker was over its memory budget): the running processes use this client instead."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, django; django.setup(); "
        "import lifeline.channels.worker, lifeline.channels.telegram, "
        "lifeline.channels.management.commands.telegram_poll, "
        "lifeline.channels.management.commands.telegram_setup, "
        "lifeline.channels.management.commands.worker; "
        "lifeline.channels.worker.senders(); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('aiogram', 'pydantic')); "
        "assert not bad, bad"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="lifeline.settings.test", TELEGRAM_BOT_TOKEN="1:T")
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True)
