"""Cost of one web-chat message through the whole Django stack (page GET, message POST with the
device-secret swap, inline processing). Not part of `make test` or `make bench`: run it by hand,
beside a checkout of an older commit, to compare (docs/performance.md, "Web chat").

    .venv/bin/pytest bench/webchat_messages.py -q -p no:cacheprovider -s
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client

pytestmark = pytest.mark.django_db


def test_timing() -> None:
    cache.clear()
    clients = [Client(HTTP_ACCEPT_LANGUAGE="ru") for _ in range(20)]
    start = time.perf_counter()
    posts = 0
    for round_ in range(10):
        for c in clients:
            page = c.get("/chat/").content.decode()
            mid = page.split('name="message_id" value="')[1].split('"')[0]
            r = c.post("/chat/", {"text": f"сообщение {round_}", "message_id": mid})
            assert r.status_code == 302
            posts += 1
    elapsed = time.perf_counter() - start
    per_message = elapsed / posts * 1000
    print(f"\nWEBCHAT {posts} GET+POST pairs in {elapsed:.2f} s = {per_message:.1f} ms each")
