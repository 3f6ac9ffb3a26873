"""The benchmark's own moving parts still work (they are not run by the test suite otherwise):
the fake Bot API records replies, the aiogram reference bot answers through it, the wrk script
is complete, and percentiles are right."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from bench.common import percentile, stop_all
from bench.servers import OPENER, start_fake_bot_api, start_reference_bot
from bench.updates import body, lua_script


def post(url: str, data: bytes, secret: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - http to 127.0.0.1
        url,
        data=data,
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
        method="POST",
    )
    try:
        with OPENER.open(request, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_reference_bot_answers_through_the_fake_bot_api() -> None:
    try:
        api = start_fake_bot_api()
        _, port = start_reference_bot(api, "s3cret")
        url = f"http://127.0.0.1:{port}/telegram/webhook/"
        assert post(url, body(1, 555, "/start"), "wrong") != 200
        assert post(url, body(2, 555, "/start"), "s3cret") == 200
        deadline = time.monotonic() + 30
        first: dict[int, float] = {}
        while time.monotonic() < deadline and 555 not in first:
            first, counts = api.first_sends()
            time.sleep(0.2)
        assert 555 in first
        assert counts["sendMessage"] == 1
        api.reset()
        assert api.first_sends() == ({}, {})
    finally:
        stop_all()


def test_wrk_script_has_the_contract() -> None:
    script = lua_script(path="/telegram/webhook/", secret="abc", chats=10)
    assert 'wrk.path = "/telegram/webhook/"' in script
    assert '"X-Telegram-Bot-Api-Secret-Token"] = "abc"' in script
    assert "function done(" in script
    assert "update_id" in script


@pytest.mark.parametrize(("q", "expected"), [(50, 50), (99, 99), (100, 100), (1, 1)])
def test_percentile_nearest_rank(q: float, expected: float) -> None:
    assert percentile([float(i) for i in range(100, 0, -1)], q) == expected
