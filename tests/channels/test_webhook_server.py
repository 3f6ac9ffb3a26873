"""The webhook's accept server (PostgreSQL): the same answers and rows as the Django view, a 200
only once the update is committed, and updates that arrive together committed together."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.channels import views
from lifeline.channels.models import InboundEvent
from lifeline.contacts import blocks
from lifeline.contacts.models import SenderBlock
from lifeline.contacts.services import identity_get_or_create
from lifeline.core import crypto
from tests.channels.fake_telegram import callback, update

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the accept server runs on PostgreSQL only"
    ),
]

SECRET = "accept-server-secret-0123456789abcdefghij"


@pytest.fixture(autouse=True)
def _secret(settings: SettingsWrapper) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    blocks.forget()


def request(
    body: bytes, *, secret: str = SECRET, method: str = "POST", path: str = "/telegram/webhook/"
) -> dict[str, Any]:
    return {"body": body, "secret": secret, "method": method, "path": path}


async def _call(app: Any, req: dict[str, Any]) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "method": req["method"],
        "path": req["path"],
        "headers": [(b"x-telegram-bot-api-secret-token", req["secret"].encode())],
    }
    chunks = [req["body"][:10], req["body"][10:]]  # the body in two parts, as it may come

    async def receive() -> dict[str, Any]:
        part = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": part, "more_body": bool(chunks)}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


def serve(requests: list[dict[str, Any]], *, dsn: str | None = None) -> list[tuple[int, bytes]]:
    """Answer the requests concurrently with a fresh accept server, as uvicorn would."""
    from lifeline.channels.webhook_server import WebhookApp

    async def main() -> list[tuple[int, bytes]]:
        app = WebhookApp(dsn)
        await app.start()
        try:
            return list(await asyncio.gather(*(_call(app, r) for r in requests)))
        finally:
            await app.stop()

    return asyncio.run(main())


def body(data: object) -> bytes:
    return json.dumps(data).encode()


def test_an_update_is_stored_as_the_view_stores_it() -> None:
    data = update(910_001, 4242, "/start")
    ((status, answer),) = serve([request(body(data))])
    assert status == 200
    assert json.loads(answer) == {"ok": True}
    event = InboundEvent.objects.get()
    assert event.external_id == "910001"
    assert event.arrival == 910_001
    assert event.ordering_key == crypto.telegram_id_index(4242)
    assert event.status == "pending"
    assert event.payload == data  # sealed to its row: it decrypts
    assert timezone.now() - event.received_at < timedelta(minutes=1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM channels_inboundevent")
        assert "/start" not in cursor.fetchone()[0]  # never in clear


CASES: list[tuple[str, dict[str, Any]]] = [
    ("a message", request(body(update(920_001, 77, "hi")))),
    ("a button", request(body(callback(920_002, 77, "b:0", 5, "Кто вы?")))),
    (
        "an edit",
        request(body({"update_id": 920_003, "edited_message": update(1, 77, "x")["message"]})),
    ),
    ("a poll answer", request(body({"update_id": 920_004, "poll_answer": {"poll_id": "1"}}))),
    ("wrong secret", request(body(update(920_005, 77, "hi")), secret="wrong")),
    ("no secret", request(body(update(920_006, 77, "hi")), secret="")),
    ("GET", request(b"", method="GET")),
    ("not JSON", request(b"{nope")),
    ("a list", request(b"[1, 2]")),
    ("no update id", request(body({"message": {"chat": {"id": 1}}}))),
    ("negative id", request(body({"update_id": -5, "message": {"chat": {"id": 1}}}))),
    ("huge id", request(body({"update_id": 2**60, "message": {"chat": {"id": 1}}}))),
    ("bool id", request(body({"update_id": True, "message": {"chat": {"id": 1}}}))),
    ("chat not an object", request(body({"update_id": 920_007, "message": {"chat": 5}}))),
    ("deep nesting", request(b'{"update_id": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}")),
    ("NaN", request(b'{"update_id": 920_008, "message": {"chat": {"id": NaN}}}')),
    ("another path", request(body(update(920_009, 77, "hi")), path="/telegram/webhook")),
]


@pytest.mark.parametrize(("what", "req"), CASES, ids=[c[0] for c in CASES])
def test_the_same_answer_as_the_django_view(what: str, req: dict[str, Any]) -> None:
    ((status, answer),) = serve([req])
    stored = list(InboundEvent.objects.values_list("external_id", "ordering_key"))
    InboundEvent.objects.all().delete()
    if req["path"] == "/telegram/webhook/":
        expected = views.webhook_answer(req["method"], req["secret"], req["body"])
        assert (status, answer) == expected, what
    else:
        assert status == 404  # this server answers its one path only
    assert list(InboundEvent.objects.values_list("external_id", "ordering_key")) == (
        stored if status == 200 else []
    )
    assert status < 500


def test_a_body_over_the_limit_is_refused(settings: SettingsWrapper) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    ((status, _answer),) = serve([request(body(update(930_001, 7, "x" * 2000)))])
    assert status == 413
    assert not InboundEvent.objects.exists()


def test_a_blocked_sender_is_acknowledged_and_not_stored() -> None:
    from tests.factories import create_user

    identity = identity_get_or_create(channel="telegram", address="6060")
    SenderBlock.objects.create(
        identity=identity,
        reason="flood",
        until=timezone.now() + timedelta(hours=1),
        created_by=create_user("supervisor"),
    )
    answers = serve(
        [request(body(update(940_001, 6060, "hi"))), request(body(update(940_002, 7, "hi")))]
    )
    assert [status for status, _ in answers] == [200, 200]
    assert list(InboundEvent.objects.values_list("external_id", flat=True)) == ["940002"]


def test_updates_that_arrive_together_share_a_statement_and_a_redelivery_is_stored_once() -> None:
    from lifeline.channels import webhook_server

    statements = 0
    original = webhook_server.Committer._flush

    async def counting(self: Any) -> None:
        nonlocal statements
        real_execute = None
        conn = await self._connection()
        real_execute = conn.execute

        async def execute(*args: Any, **kwargs: Any) -> Any:
            nonlocal statements
            statements += 1
            return await real_execute(*args, **kwargs)

        conn.execute = execute
        try:
            await original(self)
        finally:
            conn.execute = real_execute

    webhook_server.Committer._flush = counting  # type: ignore[method-assign]
    try:
        requests = [request(body(update(950_000 + n, 100 + n % 20, f"m{n}"))) for n in range(300)]
        requests += [request(body(update(950_000 + n, 100 + n % 20, f"m{n}"))) for n in range(10)]
        answers = serve(requests)
    finally:
        webhook_server.Committer._flush = original  # type: ignore[method-assign]
    assert [status for status, _ in answers] == [200] * 310
    assert InboundEvent.objects.count() == 300  # the ten redeliveries stored nothing new
    assert statements < 300 / 4  # committed together, not one by one


def test_nothing_is_acknowledged_that_is_not_stored() -> None:
    """No database: every request gets a 503 (Telegram sends the update again), never a 200."""
    answers = serve(
        [request(body(update(960_000 + n, 9, "hi"))) for n in range(5)],
        dsn="host=127.0.0.1 port=1 dbname=nothing connect_timeout=2",
    )
    assert [status for status, _ in answers] == [503] * 5
    assert not InboundEvent.objects.exists()


# --- The database goes away (found by the adversarial review of issue 13) -------------------


def test_a_database_that_stops_answering_does_not_hold_the_webhook_for_good() -> None:
    """A connection to a peer that accepted and then never answers (a frozen host, a dropped
    route): the statement gives up after STATEMENT_TIMEOUT, once the database answers again the
    next update is stored and acknowledged; nothing waits for TCP's quarter of an hour."""
    import socket

    from lifeline.channels.webhook_server import STATEMENT_TIMEOUT, WebhookApp
    from lifeline.core.db import postgres_conninfo

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshake; nobody ever answers
    port = silent.getsockname()[1]

    async def main() -> tuple[object, object]:
        app = WebhookApp(f"host=127.0.0.1 port={port} dbname=lifeline user=lifeline")
        await app.start()
        try:
            first = asyncio.create_task(_call(app, request(body(update(990_001, 31, "hi")))))
            await asyncio.sleep(1)
            assert not first.done()  # it waits (Telegram would retry it)
            assert app.committer is not None
            app.committer.dsn = postgres_conninfo()  # the database answers again
            try:
                second: object = await asyncio.wait_for(
                    _call(app, request(body(update(990_002, 32, "hi")))),
                    STATEMENT_TIMEOUT + 5,
                )
            except TimeoutError:
                second = "no answer"
            return await first, second
        finally:
            await app.stop()

    try:
        first, second = asyncio.run(main())
    finally:
        silent.close()
    assert second == (200, b'{"ok": true}')
    assert first == (200, b'{"ok": true}')  # its statement was tried again, and stored
    assert set(InboundEvent.objects.values_list("external_id", flat=True)) == {
        "990001",
        "990002",
    }


def test_the_first_update_after_a_database_restart_is_stored_not_refused() -> None:
    """The connection PostgreSQL dropped is only seen broken when a statement fails: that
    statement is tried once more on a new connection (it is safe to repeat), not answered 503."""
    from lifeline.channels.webhook_server import WebhookApp

    def terminate_others() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query LIKE 'INSERT INTO \"channels_inboundevent\"%%'"
            )
            assert cursor.fetchall(), "the accept server's connection was found"

    async def main() -> list[tuple[int, bytes]]:
        app = WebhookApp()
        await app.start()
        try:
            first = await _call(app, request(body(update(991_001, 41, "hi"))))
            await asyncio.to_thread(terminate_others)
            await asyncio.sleep(0.5)
            second = await _call(app, request(body(update(991_002, 42, "hi"))))
            return [first, second]
        finally:
            await app.stop()

    assert [status for status, _body in asyncio.run(main())] == [200, 200]
    assert InboundEvent.objects.count() == 2
