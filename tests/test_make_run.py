"""`make run` on an empty ./var: it sets everything up, prints the logins, serves both sides;
a second `make run` keeps the data and keys of the first."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from tests.processes import clean_env

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(var: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    env = clean_env()
    env.update(LIFELINE_VAR_DIR=str(var), PORT=str(port))
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Lifeline is up" in line:
            break
    for _ in range(100):  # uvicorn binds just after printing
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)  # noqa: S310
            return proc, lines
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise AssertionError("make run did not serve:\n" + "".join(lines))


def stop(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own server
        return response.status, response.read().decode()


@pytest.mark.skipif(
    connection.vendor != "sqlite",
    reason="make run is the SQLite default: checked once, in the SQLite run",
)
def test_make_run_twice(tmp_path: Path) -> None:
    var = tmp_path / "var"
    port = free_port()
    proc, lines = start(var, port)
    try:
        output = "".join(lines)
        assert "WARNING: Lifeline generated its encryption keys" in output
        assert "supervisor   supervisor  password: " in output
        status, home = get(f"http://127.0.0.1:{port}/")
        assert status == 200
        assert "<html lang=" in home
        status, login = get(f"http://127.0.0.1:{port}/console/")  # redirected to the login page
        assert status == 200
        assert 'name="password"' in login
        status, chat = get(f"http://127.0.0.1:{port}/chat/")
        assert status == 200
        assert 'name="text"' in chat
        status, css = get(f"http://127.0.0.1:{port}/static/lifeline/site.css")
        assert status == 200
        assert "--accent" in css
    finally:
        stop(proc)
    keys = (var / "keys.json").read_text()
    database = (var / "lifeline.sqlite3").stat().st_size

    proc, lines = start(var, port)
    try:
        output = "".join(lines)
        assert "Demo data is already loaded" in output
        assert "WARNING: Lifeline generated" not in output
        assert get(f"http://127.0.0.1:{port}/")[0] == 200
    finally:
        stop(proc)
    assert (var / "keys.json").read_text() == keys
    assert (var / "lifeline.sqlite3").stat().st_size >= database
