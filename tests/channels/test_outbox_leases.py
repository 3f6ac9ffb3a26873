"""Outbox claims and downloads (found by the adversarial review of issue 13): a download of a
photo (getFile, then the file, at their 20 s timeouts, then re-encoding) may outlast a send's
lease of 31 s. The sends claimed with it must not go out after their lease ran out and another
sender took them: they go back and are claimed afresh; the download gets a lease of its own.
Time is simulated: the fake download moves the clock by 40 s while the other worker runs its
usual passes."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from lifeline.channels import outbox
from lifeline.channels.models import OutboundKind, OutboundMessage, OutboundStatus
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.models import Conversation
from lifeline.core.channels import Channel

pytestmark = pytest.mark.django_db(transaction=True)


def conversation(chat: int) -> Conversation:
    identity = identity_get_or_create(channel=Channel.TELEGRAM, address=str(chat))
    return Conversation.objects.create(
        contact=identity.contact, identity=identity, channel=Channel.TELEGRAM
    )


class FakeConcurrentSender:
    """The outbox's ConcurrentSender protocol (what TelegramSender implements), answering at
    once; every sendMessage that reaches "Telegram" is appended to ``wire``."""

    def __init__(
        self, name: str, wire: list[tuple[str, str]], on_fetch: Callable[[], None] | None = None
    ):
        self.name = name
        self.wire = wire
        self.on_fetch = on_fetch

    def send(self, message: OutboundMessage) -> str:  # only FETCH rows come here
        if self.on_fetch is not None:
            self.on_fetch()
        return ""

    def prepare(self, message: OutboundMessage) -> Any:
        pk = str(message.pk)

        async def go() -> str:
            self.wire.append((self.name, pk))
            return f"tg-{len(self.wire)}"

        return go

    def start(self, send: Any, delay: float, on_sent: Any = None) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_result(asyncio.run(send()))
        return future

    def collect(self, handles: set[Any], timeout: float | None) -> list[tuple[Any, Any]]:
        return [(f, f.result()) for f in handles if f.done()]

    def paused(self) -> bool:
        return False


def test_a_message_is_not_sent_twice_when_a_download_outlasts_the_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photo_chat = conversation(5101)
    text_chat = conversation(5102)
    OutboundMessage.objects.create(
        conversation=photo_chat,
        channel=Channel.TELEGRAM,
        kind=OutboundKind.FETCH,
        buttons={"file_id": "f1", "attachment": "00000000-0000-0000-0000-000000000000"},
        seq=1,
    )
    reply = OutboundMessage.objects.create(
        conversation=text_chat, channel=Channel.TELEGRAM, text="Ваша заявка принята", seq=1
    )

    real_now = timezone.now
    offset = [timedelta(0)]
    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset[0])

    wire: list[tuple[str, str]] = []
    other_worker = FakeConcurrentSender(
        "worker-2", wire, on_fetch=lambda: downloads.append("worker-2")
    )

    downloads: list[str] = []

    def slow_download() -> None:
        downloads.append("worker-1")
        # getFile (20 s timeout) + download (20 s timeout): 40 s pass in this worker...
        offset[0] += timedelta(seconds=40)
        # ... while the second worker runs its usual passes.
        outbox.send_all({"telegram": other_worker})

    first_worker = FakeConcurrentSender("worker-1", wire, on_fetch=slow_download)
    outbox.send_all({"telegram": first_worker})

    reply.refresh_from_db()
    assert reply.status == OutboundStatus.SENT
    sends = [who for who, pk in wire if pk == str(reply.pk)]
    assert len(sends) == 1, f"the reply reached the person {len(sends)} times: {sends}"
    # The download itself was not taken by the other worker while it ran.
    fetch = OutboundMessage.objects.get(kind=OutboundKind.FETCH)
    assert fetch.status != OutboundStatus.PENDING
    assert downloads == ["worker-1"]
