"""The AMI adapter against a fake Asterisk manager on 127.0.0.1: ring → answer → hangup, and a
dropped connection that comes back."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from lifeline.core.models import Role
from lifeline.phone import asterisk
from lifeline.phone.models import Call
from tests.factories import create_user

pytestmark = pytest.mark.django_db(transaction=True)


def ami(fields: dict[str, str]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


CALL = [
    {
        "Event": "Newchannel",
        "Uniqueid": "1700.1",
        "Linkedid": "1700.1",
        "CallerIDNum": "+79990002233",
        "Exten": "100",
    },
    {
        "Event": "Newchannel",
        "Uniqueid": "1700.2",
        "Linkedid": "1700.1",
        "CallerIDNum": "201",
        "Exten": "s",
    },  # the operator's leg: not a new call
    {
        "Event": "AgentConnect",
        "Uniqueid": "1700.1",
        "Linkedid": "1700.1",
        "MemberName": "anya",
        "Interface": "PJSIP/201",
    },
    {"Event": "Hangup", "Uniqueid": "1700.2", "Linkedid": "1700.1", "Cause-txt": "Normal"},
    {"Event": "Hangup", "Uniqueid": "1700.1", "Linkedid": "1700.1", "Cause-txt": "Normal Clearing"},
]


class FakeAsterisk:
    """Speaks just enough AMI: banner, Login, then the scripted events. The first connection
    can be dropped right after login, to test reconnecting."""

    def __init__(self, *, drop_first: bool = False) -> None:
        self.drop_first = drop_first
        self.logins = 0
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self.client, "127.0.0.1", self.port)
            )
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(5)

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/5.0.1\r\n")
        await writer.drain()
        request = await reader.readuntil(b"\r\n\r\n")
        action_id = ""
        for line in request.decode().split("\r\n"):
            if line.lower().startswith("actionid:"):
                action_id = line.split(":", 1)[1].strip()
        self.logins += 1
        writer.write(
            ami(
                {"Response": "Success", "ActionID": action_id, "Message": "Authentication accepted"}
            )
        )
        await writer.drain()
        if self.drop_first and self.logins == 1:
            writer.close()
            return
        await asyncio.sleep(0.3)
        for event in CALL:
            writer.write(ami(event))
            await writer.drain()
            await asyncio.sleep(0.05)
        try:
            while await reader.read(1024):  # pings; keep the line open
                pass
        except ConnectionError:
            pass

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def operator() -> None:
    create_user(Role.OPERATOR, username="anya")


@pytest.mark.parametrize("drop_first", [False, True], ids=["steady", "reconnects"])
def test_ring_answer_hangup_through_ami(operator: None, drop_first: bool) -> None:
    fake = FakeAsterisk(drop_first=drop_first)
    stop = threading.Event()
    adapter = threading.Thread(
        target=asterisk.run,
        args=(stop,),
        kwargs={
            "host": "127.0.0.1",
            "port": fake.port,
            "username": "lifeline",
            "secret": "s",
            "pbx": "office-asterisk",
            "reconnect_seconds": 1,
        },
        daemon=True,
    )
    adapter.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            call = Call.objects.filter(call_id="1700.1").first()
            if call is not None and call.status == "ended":
                break
            time.sleep(0.2)
    finally:
        stop.set()
        adapter.join(10)
        fake.stop()
    call = Call.objects.get()
    assert (call.pbx, call.status, call.cause) == ("office-asterisk", "ended", "Normal Clearing")
    assert call.answered_by is not None
    assert call.answered_by.username == "anya"
    assert call.caller == "+79990002233"
    assert fake.logins == (2 if drop_first else 1)


def test_translation_ignores_what_is_not_a_call() -> None:
    assert asterisk.translate({"Event": "PeerStatus", "Uniqueid": "1"}) is None
    assert asterisk.translate({"Event": "Hangup", "Uniqueid": "2", "Linkedid": "1"}) is None
    assert asterisk.translate(
        {"Event": "Newchannel", "Uniqueid": "1", "Linkedid": "1", "CallerIDNum": "1", "Exten": "2"}
    ) == {"event": "newCall", "callId": "1", "from": "1", "to": "2", "direction": "in"}


def test_an_event_the_database_failed_is_applied_on_a_retry(
    operator: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error (a restart, a busy table) does not lose an AMI event: the adapter tries
    again, and the event stored but not done is applied then, once."""
    from django.db import OperationalError

    from lifeline.phone import cti

    base = {"Uniqueid": "1800.1", "Linkedid": "1800.1"}
    asterisk.apply("office", {**base, "Event": "Newchannel", "CallerIDNum": "+79990003344"})
    real = cti._answer
    failures = {"left": 2}

    def flaky(call: Call, data: dict[str, object]) -> cti.Answer:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("database table is locked")
        return real(call, data)

    monkeypatch.setattr(cti, "_answer", flaky)
    monkeypatch.setattr(asterisk.time, "sleep", lambda _s: None)
    asterisk.apply("office", {**base, "Event": "AgentConnect", "MemberName": "anya"})
    call = Call.objects.get(call_id="1800.1")
    assert call.status == "answered"
    assert call.answered_by is not None
    assert failures["left"] == 0
    # The same event delivered again is a duplicate, not applied twice.
    again = cti.handle("office", {"event": "answer", "callId": "1800.1", "user": "anya"})
    assert again.body["duplicate"] is True
