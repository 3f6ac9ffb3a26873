"""One writer at a time on SQLite, queued in the process instead of in SQLite's busy handler.

The embedded default is one process whose web threads and worker thread share one SQLite file.
SQLite lets one transaction write at a time and makes the others poll for the lock, backing off
by up to 100 ms a try: under a crowd, lock hand-overs were slow and a write could time out
(a 500, an application stopped half-way). The hot writers (storing an event, processing one)
queue on a lock in this process instead, which hands over at once. On PostgreSQL row locks do
this job across processes and the lock here is not taken.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

_LOCK = threading.RLock()


def _serialised() -> bool:
    return connection.vendor == "sqlite"


@contextmanager
def serial_write() -> Iterator[None]:
    """Hold the process's SQLite write turn (waiting for it); nothing on PostgreSQL."""
    if not _serialised():
        yield
        return
    with _LOCK:
        yield


@contextmanager
def serial_write_if_free() -> Iterator[bool]:
    """Take the write turn only if nobody holds it: yields whether it was taken."""
    if not _serialised():
        yield True
        return
    taken = _LOCK.acquire(blocking=False)
    try:
        yield taken
    finally:
        if taken:
            _LOCK.release()


def postgres_conninfo(alias: str = "default") -> str:
    """A libpq connection string for the database Django uses (PostgreSQL), for the few
    places that talk to it without Django: asyncio code (the webhook's accept server, the
    senders' records)."""
    import psycopg
    from django.conf import settings

    cfg = settings.DATABASES[alias]
    # libpq's own options (sslmode, sslrootcert, connect_timeout, keepalives, options…) as
    # Django passes them; Django's own keys are not libpq's.
    options = {
        key: str(value)
        for key, value in (cfg.get("OPTIONS") or {}).items()
        if key not in _DJANGO_ONLY_OPTIONS and value is not None
    }
    return psycopg.conninfo.make_conninfo(
        dbname=cfg["NAME"],
        user=cfg.get("USER") or None,
        password=cfg.get("PASSWORD") or None,
        host=cfg.get("HOST") or None,
        port=str(cfg.get("PORT") or "") or None,
        **options,
    )


#: Keys of a PostgreSQL database's OPTIONS that Django reads itself (not connection parameters).
_DJANGO_ONLY_OPTIONS = frozenset(
    {
        "pool",
        "isolation_level",
        "server_side_binding",
        "assume_role",
        "cursor_factory",
        "prepare_threshold",
        "context",
    }
)
