"""The fault test, on PostgreSQL: two worker processes, 2,000 updates from 200 chats, the fake
Bot API answering 10 % of sends with 429 or 500; one worker is killed with SIGKILL mid-burst
(and started again, as systemd would), and every connection to the test database is terminated
once. Afterwards every conversation's replies arrived complete, in order, none doubled, never
two within a second in one chat, and both workers are running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from lifeline.channels.models import InboundEvent, OutboundMessage
from lifeline.channels.telegram import store_update
from tests.channels.fake_telegram import FakeTelegram, update

ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = 200
INPUTS = [
    "/start",
    "1",
    "Мобилизован",
    "Параллельный Тест Тестович",
    "завтра",
    "31.02.1990",
    "01.01.1990",
    "АБ-123456",
    "рядовой",
    "в/ч 1",
]
EXPECTED = [
    "Кто вы?",
    "Как вы попали",
    "фамилию",
    "Дата рождения",
    "Напишите её так",
    "Напишите её так",
    "личный номер",
    "звание",
    "воинская часть",
    "Где вы сейчас",
]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="several workers need PostgreSQL's row locks (SKIP LOCKED)",
    ),
]


def _done() -> int:
    return InboundEvent.objects.filter(status="done").count()


def test_two_workers_two_hundred_conversations_through_faults(tmp_path: Path) -> None:
    fake = FakeTelegram(fail_ratio=0.1).start()
    update_id = 10_000
    for round_ in range(len(INPUTS)):  # interleaved, as a busy bot receives them
        for user in range(CONVERSATIONS):
            update_id += 1
            store_update(update(update_id, 8_000_000 + user, INPUTS[round_]))
    cfg = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="lifeline.settings.test",
        DATABASE_URL=f"postgres://{cfg['USER']}@{cfg['HOST'] or '127.0.0.1'}:"
        f"{cfg['PORT'] or 5432}/{cfg['NAME']}",
        LIFELINE_TEST_KEYS=settings.LIFELINE_KEYS,
        LIFELINE_TEST_KEYSTORE=settings.LIFELINE_KEYSTORE,
        LIFELINE_TEST_BLIND_INDEX_KEY=settings.LIFELINE_BLIND_INDEX_KEY,
        LIFELINE_TEST_CODENAME_PEPPER=settings.LIFELINE_CODENAME_PEPPER,
        TELEGRAM_BOT_TOKEN="123456:TEST",
        LIFELINE_TELEGRAM_API_BASE=fake.base,
    )

    def start(n: int) -> subprocess.Popen[str]:
        return subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "manage.py", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"worker{n}.log").open("w"),
            text=True,
        )

    workers = [start(0), start(1)]
    total = CONVERSATIONS * len(INPUTS)
    killed = terminated = False
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = _done()
            sent = OutboundMessage.objects.filter(status="sent").count()
            if done == total and sent == total:
                break
            if not killed and done >= total // 4:
                workers[0].kill()  # SIGKILL, mid-burst
                workers[0].wait(10)
                workers[0] = start(2)  # what systemd's Restart=always does
                killed = True
            if killed and not terminated and done >= total // 2:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                terminated = True
            assert all(w.poll() is None for w in workers), "a worker died"
            time.sleep(0.5)
        assert killed
        assert terminated
        assert all(w.poll() is None for w in workers), "a worker died"  # no outside help
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        fake.stop()
    assert InboundEvent.objects.filter(status="done").count() == total
    assert not InboundEvent.objects.exclude(status="done").exists()
    by_chat: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for call in fake.sent():
        by_chat[call.data["chat_id"]].append((call.at, call.data["text"]))
    assert len(by_chat) == CONVERSATIONS
    for chat, calls in by_chat.items():
        texts = [text for _, text in calls]
        assert len(texts) == len(EXPECTED), (chat, texts)  # complete, none doubled
        for text, expected in zip(texts, EXPECTED, strict=True):
            assert expected in text, (chat, texts)  # in order
        times = [at for at, _ in calls]
        assert all(b - a >= 0.95 for a, b in zip(times, times[1:], strict=False)), chat
