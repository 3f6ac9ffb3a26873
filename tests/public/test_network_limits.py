"""Web-chat limits per network, shared by every web process through Redis (issue 15, part 1):
two `manage.py serve` processes on one database and one Redis; new chats from one network are
counted together whichever process takes them, and past the limit the visitor gets a calm 429
with his text still in the box. Another network is not held up. The address is only hashed into
a cache key (limits.network_hint), never stored."""

from __future__ import annotations

import http.cookiejar
import os
import re
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from lifeline.core import limits
from tests.core.test_settings_cache import redis_reachable
from tests.processes import clean_env, serve
from tests.test_make_run import free_port

ROOT = Path(__file__).resolve().parents[2]
NEW_CHATS_PER_HOUR = 4

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="two embedded servers on one SQLite file: once"
)


def _first_message(base: str, address: str, text: str) -> tuple[int, str]:
    """A new visitor from ``address`` sends his first message; the answer's status and page."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    opener.addheaders = [("Accept-Language", "ru"), ("X-Real-IP", address)]
    with opener.open(f"{base}/chat/", timeout=60) as response:  # noqa: S310
        page = response.read().decode()
    form = {
        "csrfmiddlewaretoken": re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[0],
        "message_id": re.findall(r'name="message_id" value="([^"]+)"', page)[0],
        "text": text,
    }
    request = urllib.request.Request(  # noqa: S310
        f"{base}/chat/",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Referer": f"{base}/chat/", "Origin": base},
    )
    try:
        with opener.open(request, timeout=60) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_new_chats_from_one_network_are_counted_across_two_web_processes(tmp_path: Path) -> None:
    if not redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis at 127.0.0.1:6379 is required under CI=true")
        pytest.skip("no Redis at 127.0.0.1:6379")
    env = clean_env()
    env.update(
        LIFELINE_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="lifeline.settings.dev",
        LIFELINE_CACHE_URL="redis://127.0.0.1:6379/13",
        LIFELINE_CLIENT_ADDRESS_HEADER="X-Real-IP",
        LIFELINE_NETWORK_NEW_CHATS_PER_HOUR=str(NEW_CHATS_PER_HOUR),
    )
    manage = [sys.executable, "manage.py"]
    # Fresh keys: the network hint is keyed by them, so no earlier run's counts apply.
    subprocess.run([*manage, "init_keys"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    ports = [free_port(), free_port()]
    # One worker on SQLite: the second process serves the web only.
    servers = [serve(env, ports[0]), serve(env, ports[1], "--no-worker")]
    try:
        answers = [
            _first_message(f"http://127.0.0.1:{ports[n % 2]}", "93.184.216.34", f"Привет {n}")
            for n in range(NEW_CHATS_PER_HOUR + 2)
        ]
        other = _first_message(f"http://127.0.0.1:{ports[1]}", "151.101.1.69", "Здравствуйте")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(20)
    statuses = [status for status, _page in answers]
    assert statuses[:NEW_CHATS_PER_HOUR] == [200] * NEW_CHATS_PER_HOUR  # after the redirect
    assert statuses[NEW_CHATS_PER_HOUR:] == [429, 429]
    refused = answers[-1][1]
    assert "Вы пишете быстрее" in refused  # calm, in his language
    assert f"Привет {NEW_CHATS_PER_HOUR + 1}" in refused  # his text is still in the box
    assert other[0] == 200
    # Neither address reached the database.
    with sqlite3.connect(tmp_path / "var" / "lifeline.sqlite3") as db:
        dump = "\n".join(db.iterdump())
    assert "93.184.216.34" not in dump
    assert "151.101.1.69" not in dump


def test_the_network_hint_is_keyed_daily_and_empty_for_the_proxy_itself() -> None:
    hint = limits.network_hint("93.184.216.34")
    assert hint
    assert "93.184" not in hint
    assert limits.network_hint("93.184.216.34") == hint
    assert limits.network_hint("93.184.216.35") != hint
    # One IPv6 subscriber's /56 is one network; the mapped form of an IPv4 address is itself.
    assert limits.network_hint("2a00:1450:1:2::1") == limits.network_hint("2a00:1450:1:3f::9")
    assert limits.network_hint("2a00:1450:1:100::1") != limits.network_hint("2a00:1450:1:2::1")
    assert limits.network_hint("::ffff:93.184.216.34") == hint
    # No hint where every visitor would be one network: the proxy, a container's gateway.
    nothing = ("127.0.0.1", "::1", "", "not an address", "172.17.0.1", "fe80::1", "0.0.0.0")  # noqa: S104
    for address in nothing:
        assert limits.network_hint(address) == "", address


@pytest.mark.django_db
def test_a_stale_cookie_does_not_open_chats_past_the_network_limit(settings: Any) -> None:
    """A cookie the server once issued, whose secret a later message swapped, names no chat:
    the message opens a new one, and that counts as a new chat of the network. (Found by the
    adversarial review of issue 15: one kept cookie opened chats without limit.)"""
    import uuid

    from django.test import Client

    from lifeline.channels import webchat
    from lifeline.contacts.models import Identity

    settings.LIFELINE_CLIENT_ADDRESS_HEADER = "X-Real-IP"
    settings.LIFELINE_NETWORK_NEW_CHATS_PER_HOUR = 2
    client = Client()

    def post(cookie: str | None, text: str) -> tuple[int, str | None]:
        client.cookies.clear()
        if cookie:
            client.cookies[webchat.COOKIE] = cookie
        response = client.post(
            "/chat/",
            {"text": text, "message_id": uuid.uuid4().hex},
            HTTP_X_REAL_IP="93.184.216.99",
            HTTP_ACCEPT_LANGUAGE="ru",
        )
        new = response.cookies.get(webchat.COOKIE)
        return response.status_code, (new.value if new is not None else None)

    status, first = post(None, "Здравствуйте")
    assert status == 302
    assert first
    assert post(first, "ещё")[0] == 302  # the same chat; `first` is now stale
    statuses = [post(first, f"чат {n}")[0] for n in range(6)]
    assert statuses[0] == 302  # the second new chat of this network
    assert set(statuses[1:]) == {429}
    assert Identity.objects.filter(channel="web").count() == 2
    # Nothing of the refused messages was kept.
    from lifeline.channels.models import InboundEvent

    assert InboundEvent.objects.filter(channel="web").count() == 3
