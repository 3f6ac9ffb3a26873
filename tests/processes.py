"""Helpers for tests that start Lifeline in another process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def clean_env() -> dict[str, str]:
    """This machine's environment without Lifeline's or Django's own settings, so that the
    child process is configured only by what the test gives it."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "LIFELINE_", "DJANGO_"))
    }


def serve(env: dict[str, str], port: int, *extra: str) -> subprocess.Popen[bytes]:
    """`manage.py serve` (the embedded default's server) on 127.0.0.1:``port``, once its web
    chat answers; ``extra``: more arguments (``--no-worker``)."""
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "manage.py", "serve", "--port", str(port), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/chat/", timeout=2)  # noqa: S310
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("serve did not start")
