"""The Telegram webhook as its own small ASGI server: durable accept with group commit.

Production runs it beside the web application (``manage.py webhook_server``, systemd unit
``lifeline-webhook``; the reverse proxy sends ``/telegram/webhook/`` here). It answers exactly
as :func:`lifeline.channels.views.webhook_answer` does — the same checks, the same rows — but
never hands a request to a thread or to Django's request handling, and it commits the updates
that arrive together in one statement: every request waits for the commit of the statement that
holds its update before its 200 (nothing is acknowledged that is not stored), and one commit —
the disk's flush that dominates an insert — serves all of them. At low load a statement holds
one update and the answer comes at once; under a burst statements grow to dozens of updates.
Measured against a plain aiogram bot and a bare one-INSERT view: docs/performance.md.

PostgreSQL only (psycopg's async connections); the embedded default (SQLite, one process) keeps
the Django view.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection as django_connection

from lifeline.contacts import blocks
from lifeline.core import bulk, keystore
from lifeline.core.db import postgres_conninfo
from lifeline.core.parsing import MalformedInput, header_bytes, json_body

from . import telegram_accept
from .models import InboundEvent, InboundStatus

log = logging.getLogger(__name__)

PATH = "/telegram/webhook/"
OK = json.dumps({"ok": True}).encode()
NOT_AN_UPDATE = json.dumps({"ok": False, "error": "not a Telegram update"}).encode()
#: Updates one statement carries at most, and the most their sealed payloads may weigh.
MAX_BATCH = 500
MAX_BATCH_BYTES = 16 * 1024 * 1024
#: Seconds a connection or the statement may take before the connection is given up: a database
#: that stops answering without closing the connection (a frozen host, a dropped route) must
#: not hold every later update behind it.
STATEMENT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0
#: Seconds between two reloads of the blocked senders (in a thread: never in the event loop).
BLOCKS_EVERY = blocks.REFRESH_SECONDS / 2

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_COLUMNS = (
    "id",
    "channel",
    "external_id",
    "payload",
    "status",
    "ordering_key",
    "arrival",
    "attempts",
    "next_attempt_at",
    "received_at",
    "processed_at",
)
_PAYLOAD = _COLUMNS.index("payload")
_ARRIVAL = _COLUMNS.index("arrival")


def _insert_sql() -> str:
    """One INSERT of arrays, a column each, in the inbox's own column names and types."""
    meta = InboundEvent._meta
    fields = [meta.get_field(name) for name in _COLUMNS]
    names = ", ".join(f'"{f.column}"' for f in fields)  # type: ignore[union-attr]
    arrays = ", ".join(f"%s::{f.db_type(django_connection)}[]" for f in fields)  # type: ignore[union-attr]
    return (
        f'INSERT INTO "{meta.db_table}" ({names}) SELECT * FROM unnest({arrays}) '  # noqa: S608 - names from the model
        'ON CONFLICT ("channel", "external_id") DO NOTHING'
    )


@dataclass
class _Waiting:
    row: tuple[Any, ...]
    done: asyncio.Future[None]


class Committer:
    """Collects rows and writes whatever has gathered in one statement, one statement at a
    time per process; each waiting request learns when its row is committed (or that the
    statement failed: then a 503, and Telegram sends the update again)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.sql = _insert_sql()
        self.queue: list[_Waiting] = []
        self.flushing = False
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def add(self, row: tuple[Any, ...]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.append(_Waiting(row, done))
        if not self.flushing:
            self.flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await done

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        return self.conn

    def _next_batch(self) -> list[_Waiting]:
        """What gathered, up to MAX_BATCH rows and MAX_BATCH_BYTES of sealed payloads."""
        taken, size = 0, 0
        for waiting in self.queue[:MAX_BATCH]:
            size += len(waiting.row[_PAYLOAD])
            if taken and size > MAX_BATCH_BYTES:
                break
            taken += 1
        batch, self.queue = self.queue[:taken], self.queue[taken:]
        # One order of rows in every process, so that two statements holding the same
        # redelivered update ids never wait for each other's rows (a deadlock).
        batch.sort(key=lambda w: w.row[_ARRIVAL])
        return batch

    async def _drop_connection(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), CLOSE_TIMEOUT)

    async def _store(self, columns: list[list[Any]]) -> None:
        """The statement, bounded in time; once more on a new connection if the first one
        had gone (a PostgreSQL restart, a terminated backend): it is safe to repeat."""
        for attempt in (1, 2):
            try:
                conn = await asyncio.wait_for(self._connection(), STATEMENT_TIMEOUT)
                await asyncio.wait_for(conn.execute(self.sql, columns), STATEMENT_TIMEOUT)
                return
            except (psycopg.OperationalError, TimeoutError):
                await self._drop_connection()
                if attempt == 2:
                    raise

    async def _flush(self) -> None:
        try:
            while self.queue:
                batch = self._next_batch()
                columns = [list(column) for column in zip(*(w.row for w in batch), strict=True)]
                try:
                    await self._store(columns)
                except Exception as exc:  # noqa: BLE001 - answered 503: Telegram retries
                    log.error(
                        "webhook could not store %s updates (%s)", len(batch), type(exc).__name__
                    )
                    await self._drop_connection()
                    for waiting in batch:
                        if not waiting.done.done():
                            waiting.done.set_exception(exc)
                    continue
                for waiting in batch:
                    if not waiting.done.done():
                        waiting.done.set_result(None)
        finally:
            self.flushing = False


def _row(data: dict[str, Any], update_id: int, chat_key: str) -> tuple[Any, ...]:
    """The inbox row of an update, as the ORM would write it (the payload sealed to its row)."""
    pk = uuid.uuid4()
    sealed = bulk.seal(InboundEvent, "payload", pk, data, keystore.inbox_key())
    assert sealed is not None  # noqa: S101 - an update is never None
    return (
        pk,
        "telegram",
        str(update_id),
        sealed.token,
        InboundStatus.PENDING,
        chat_key,
        update_id,
        0,
        None,
        datetime.now(UTC),
        None,
    )


class WebhookApp:
    """The ASGI application: ``/telegram/webhook/`` and nothing else."""

    def __init__(self, dsn: str | None = None) -> None:
        self.dsn = dsn or postgres_conninfo()
        self.committer: Committer | None = None
        self.secret = header_bytes(settings.TELEGRAM_WEBHOOK_SECRET or "")
        self.limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
        self._blocks_task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        status, body = await self._answer(scope, receive)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if status == 405:
            headers.append((b"allow", b"POST"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        self.committer = Committer(self.dsn)
        await asyncio.to_thread(_reload_blocks)
        self._blocks_task = asyncio.get_running_loop().create_task(self._keep_blocks())

    async def stop(self) -> None:
        if self._blocks_task is not None:
            self._blocks_task.cancel()
        if self.committer is not None and self.committer.conn is not None:
            await self.committer.conn.close()

    async def _keep_blocks(self) -> None:
        while True:
            await asyncio.sleep(BLOCKS_EVERY)
            try:
                await asyncio.to_thread(_reload_blocks)
            except Exception as exc:  # noqa: BLE001 - keep the last snapshot, try again
                log.warning("could not reload the blocked senders (%s)", type(exc).__name__)

    async def _body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        if scope.get("path") != PATH:
            return 404, b""
        given = b""
        for name, value in scope.get("headers", []):
            if name == b"x-telegram-bot-api-secret-token":
                given = value
        if not self.secret or not hmac.compare_digest(given, self.secret):
            return 404, b""
        if scope.get("method") != "POST":
            return 405, b""
        body = await self._body(receive)
        if body is None:
            return 413, b""
        try:
            data = json_body(body)
            found = telegram_accept.prepare(data, reload_blocks=False)
        except (MalformedInput, telegram_accept.NotAnUpdate):
            return 400, NOT_AN_UPDATE
        if found is None:
            return 200, OK  # a kind Lifeline does not read, or a blocked sender: dropped
        update_id, chat_key = found
        assert self.committer is not None  # noqa: S101 - set at startup
        try:
            await self.committer.add(_row(data, update_id, chat_key))
        except Exception:  # noqa: BLE001 - the database is down: Telegram retries a 503
            return 503, b""
        return 200, OK


def _reload_blocks() -> None:
    try:
        blocks.reload()
    finally:
        django_connection.close()
