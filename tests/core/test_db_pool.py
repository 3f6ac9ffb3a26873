"""Production's connection pool: 64 concurrent threads (as an ASGI server runs requests) never
hold more connections than the pool's size, and a connection PostgreSQL terminated is replaced
before a thread gets it. Real PostgreSQL in a child process with the production settings."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.processes import clean_env

ROOT = Path(__file__).resolve().parents[2]
SERVER = "postgres://postgres@127.0.0.1:5432"
POOL_SIZE = 4

# 64 threads x 5 queries each, through Django's connection handling as a request would
# (close_old_connections at the end hands the connection back to the pool). Then every backend
# of this application is terminated, and 8 more threads must still get working connections.
CHILD = """
import sys, threading
import django
django.setup()
from django.db import close_old_connections, connection
import psycopg

errors, peak = [], [0]
lock = threading.Lock()

def count():
    with psycopg.connect(sys.argv[1], autocommit=True) as admin:
        return admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lifeline-pool-test'"
        ).fetchone()[0]

def request():
    try:
        for _ in range(5):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(0.01)")
            with lock:
                peak[0] = max(peak[0], count())
        close_old_connections()
    except Exception as exc:
        errors.append(type(exc).__name__)
    finally:
        connection.close()

threads = [threading.Thread(target=request) for _ in range(64)]
[t.start() for t in threads]
[t.join() for t in threads]
with psycopg.connect(sys.argv[1], autocommit=True) as admin:
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'lifeline-pool-test'"
    )
after = [threading.Thread(target=request) for _ in range(8)]
[t.start() for t in after]
[t.join() for t in after]
print("RESULT", peak[0], len(errors), ",".join(sorted(set(errors))))
"""


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(f"{SERVER}/postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def test_the_pool_bounds_connections_and_replaces_terminated_ones() -> None:
    if not postgres_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required under CI=true")
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    env = clean_env()
    env.update(
        DJANGO_SETTINGS_MODULE="lifeline.settings.prod",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="hotline.example",
        DATABASE_URL=f"{SERVER}/postgres?application_name=lifeline-pool-test",
        DATABASE_POOL_MAX_SIZE=str(POOL_SIZE),
        LIFELINE_KEYS=f"1:{key()}",
        LIFELINE_BLIND_INDEX_KEY=key(),
        LIFELINE_CODENAME_PEPPER=key(),
        LIFELINE_CACHE_URL="redis://127.0.0.1:6379/0",
    )
    result = subprocess.run(  # noqa: S603 - our own child
        [sys.executable, "-c", CHILD, f"{SERVER}/postgres"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT"))
    _, peak, errors, kinds = [*line.split(" "), ""][:4]
    assert int(errors) == 0, kinds
    assert 1 <= int(peak) <= POOL_SIZE
