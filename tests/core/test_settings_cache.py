"""The cache comes from LIFELINE_CACHE_URL: Redis is one cache for every process; production
refuses anything else. Real Redis at 127.0.0.1:6379 (database 15), no mocks."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.processes import clean_env

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/15"
INCREMENTS = 200

# One process: add the counter if missing, then increment it INCREMENTS times.
COUNT = f"""
import sys
import django
django.setup()
from django.conf import settings
from django.core.cache import cache
assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
key = sys.argv[1]
cache.add(key, 0, 120)
for _ in range({INCREMENTS}):
    cache.incr(key)
print(cache.get(key))
"""


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def child_env(**extra: str) -> dict[str, str]:
    env = clean_env()
    env.update(DJANGO_SETTINGS_MODULE="lifeline.settings.test", **extra)
    return env


def test_default_cache_is_this_process_memory() -> None:
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def test_two_processes_share_one_redis_counter() -> None:
    if not redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis at 127.0.0.1:6379 is required under CI=true")
        pytest.skip("no Redis at 127.0.0.1:6379")
    key = f"lifeline-test-{secrets.token_hex(8)}"
    env = child_env(LIFELINE_CACHE_URL=REDIS_URL)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", COUNT, key],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (_out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    # Each saw the other's increments: the last to finish saw every one of them.
    assert max(int(out) for out, _ in outputs) == 2 * INCREMENTS
    read = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, django; django.setup(); from django.core.cache import cache; "
            "print(cache.get(sys.argv[1])); cache.delete(sys.argv[1])",
            key,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == str(2 * INCREMENTS)


def prod_check(**extra: str) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    env.update(
        DJANGO_SETTINGS_MODULE="lifeline.settings.prod",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        DATABASE_URL="postgres://lifeline@127.0.0.1:5432/lifeline",
        **extra,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("url", [None, "locmemcache://", "dummycache://"])
def test_production_requires_redis(url: str | None) -> None:
    result = prod_check(**({"LIFELINE_CACHE_URL": url} if url else {}))
    assert result.returncode != 0
    assert "LIFELINE_CACHE_URL" in result.stderr
