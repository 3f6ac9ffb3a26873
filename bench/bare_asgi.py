"""The floor reference for the accept server: a bare ASGI application under the same server
(uvicorn, uvloop, httptools, two processes) that checks the secret header, parses the body and
does ONE ``INSERT`` of a plain row (a ``StatEvent``: no encryption, no look-up) per request,
through a pool of async PostgreSQL connections, before it answers. No group commit: what one
request, one statement, one commit costs on this server.

    python -m uvicorn bench.bare_asgi:application --factory ...
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

SQL = (
    'INSERT INTO "stats_statevent" ("kind", "channel", "language", "hour", "value", "rolled") '
    "VALUES (%s, %s, %s, %s, NULL, false)"
)


class BareApp:
    def __init__(self) -> None:
        url = os.environ["DATABASE_URL"]
        self.secret = os.environ["TELEGRAM_WEBHOOK_SECRET"].encode()
        self.pool = AsyncConnectionPool(
            url, min_size=2, max_size=8, open=False, kwargs={"autocommit": True}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.pool.open()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        status, body = await self.answer(scope, receive)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        given = dict(scope.get("headers", [])).get(b"x-telegram-bot-api-secret-token", b"")
        if not hmac.compare_digest(given, self.secret):
            return 404, b""
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        data = json.loads(b"".join(chunks))
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return 400, b'{"ok": false}'
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        async with self.pool.connection() as conn:
            await conn.execute(SQL, ("bench.bare", "telegram", "ru", hour))
        return 200, b'{"ok": true}'


def application() -> BareApp:
    return BareApp()
