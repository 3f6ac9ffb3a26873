"""The embedded default holds a crowd: 50 people apply through the no-JavaScript web chat at
once against `manage.py serve` on SQLite (what `make run` starts); every application completes
and no answer is a 5xx. (Measured before the fix: 13 of 50 got a 500 and stopped half-way.)"""

from __future__ import annotations

import http.cookiejar
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from tests.processes import clean_env
from tests.processes import serve as start_serve
from tests.test_make_run import free_port

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = 50
ANSWERS = [
    "Здравствуйте",
    "Военный, хочу подать заявку",
    "2",
    "Примеров Фёдор Иванович",
    "02.07.1987",
    None,  # a service number of his own
    "сержант",
    "в/ч 00002",
    "не могу",
    "Один",
    "Забрали, есть второй",
    "Да, отправить",
]

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="the embedded default is SQLite: checked once"
    ),
]


def serve(var: Path, port: int) -> subprocess.Popen[bytes]:
    env = clean_env()
    env.update(LIFELINE_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="lifeline.settings.dev")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "init_keys"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return start_serve(env, port)


def apply(base: str, number: int, statuses: list[int], done: list[bool]) -> None:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    opener.addheaders = [("Accept-Language", "ru")]
    for answer in ANSWERS:
        text = answer or f"ТЛ-{number:06d}"
        try:
            with opener.open(f"{base}/chat/", timeout=120) as response:  # noqa: S310
                page = response.read().decode()
                statuses.append(response.status)
            form = {
                "csrfmiddlewaretoken": re.findall(
                    r'name="csrfmiddlewaretoken" value="([^"]+)"', page
                )[0],
                "message_id": re.findall(r'name="message_id" value="([^"]+)"', page)[0],
                "text": text,
            }
            request = urllib.request.Request(  # noqa: S310
                f"{base}/chat/",
                data=urllib.parse.urlencode(form).encode(),
                headers={"Referer": f"{base}/chat/", "Origin": base},
            )
            with opener.open(request, timeout=120) as response:  # noqa: S310
                response.read()
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with opener.open(f"{base}/chat/", timeout=120) as response:  # noqa: S310
            if "кодов" in response.read().decode():  # the code words: the application is in
                done.append(True)
                return
        time.sleep(1)


def test_fifty_people_apply_at_once_on_the_embedded_default(tmp_path: Path) -> None:
    port = free_port()
    proc = serve(tmp_path / "var", port)
    statuses: list[int] = []
    done: list[bool] = []
    try:
        people = [
            threading.Thread(target=apply, args=(f"http://127.0.0.1:{port}", n, statuses, done))
            for n in range(PEOPLE)
        ]
        for person in people:
            person.start()
        for person in people:
            person.join(400)
    finally:
        proc.terminate()
        proc.wait(20)
    assert [s for s in statuses if s >= 500] == []
    assert len(done) == PEOPLE
