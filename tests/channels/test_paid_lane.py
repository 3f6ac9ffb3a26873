"""The paid lane (``LIFELINE_TELEGRAM_PAID_PER_SECOND``): what the free 30 a second cannot carry
goes as paid broadcasts, never more free sends than the budget; off by default; a refused paid
broadcast (no Stars left) closes the lane for a while and the message waits for a free slot
instead of failing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.channels import outbox
from lifeline.channels.models import OutboundMessage, SendBudget
from lifeline.channels.telegram import TelegramSender
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.models import Conversation
from lifeline.core.channels import Channel
from tests.channels.fake_telegram import FakeTelegram

pytestmark = pytest.mark.django_db(transaction=True)


def _queue(first_chat: int, count: int) -> list[OutboundMessage]:
    rows = []
    for n in range(count):
        identity = identity_get_or_create(channel=Channel.TELEGRAM, address=str(first_chat + n))
        conversation = Conversation.objects.create(
            contact=identity.contact, identity=identity, channel=Channel.TELEGRAM
        )
        rows.append(
            OutboundMessage.objects.create(
                conversation=conversation, channel=Channel.TELEGRAM, text=f"привет {n}", seq=1
            )
        )
    return rows


def _paid(call: object) -> bool:
    return str(getattr(call, "data", {}).get("allow_paid_broadcast", "")).lower() == "true"


def _drain(sender: TelegramSender, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while OutboundMessage.objects.filter(status="pending").exists():
        assert time.monotonic() < deadline, "the outbox did not drain"
        outbox.send_all({"telegram": sender})
        time.sleep(0.01)


def test_the_paid_lane_carries_what_the_free_thirty_cannot(
    fake: FakeTelegram, settings: SettingsWrapper
) -> None:
    settings.LIFELINE_TELEGRAM_PAID_PER_SECOND = 60
    _queue(9_100_000, 80)
    sender = TelegramSender()
    started = time.monotonic()
    try:
        _drain(sender, 20)
    finally:
        sender.close()
    calls = fake.sent()
    assert len(calls) == 80
    free = sorted(c.at for c in calls if not _paid(c))
    paid = [c for c in calls if _paid(c)]
    assert paid, "nothing went through the paid lane"
    # Free sends stay within the bot's budget in any second; together they go faster.
    most = max(sum(1 for t in free if start <= t < start + 1.0) for start in free)
    assert most <= outbox.GLOBAL_PER_SECOND
    assert time.monotonic() - started < 80 / 27  # faster than the free lane alone


def test_without_the_setting_nothing_is_ever_paid(fake: FakeTelegram) -> None:
    _queue(9_200_000, 40)
    sender = TelegramSender()
    try:
        _drain(sender, 20)
    finally:
        sender.close()
    assert len(fake.sent()) == 40
    assert not [c for c in fake.sent() if _paid(c)]


def test_a_refused_paid_broadcast_closes_the_lane_and_the_message_waits(
    fake: FakeTelegram, settings: SettingsWrapper
) -> None:
    settings.LIFELINE_TELEGRAM_PAID_PER_SECOND = 60
    (message,) = _queue(9_300_000, 1)
    # The free lane is taken for the next seconds: the only slot now is a paid one.
    SendBudget.objects.update_or_create(
        channel="telegram", defaults={"next_free_at": timezone.now() + timedelta(seconds=3)}
    )
    fake.errors_next = [400]
    sender = TelegramSender()
    try:
        _drain(sender, 15)
    finally:
        sender.close()
    assert fake.failures == 1  # the paid broadcast, refused
    message.refresh_from_db()
    assert message.status == "sent"  # not failed for being in the paid lane
    assert message.attempts == 0
    (sent,) = fake.sent()
    assert not _paid(sent)  # it went out on the free lane, once that had room
    lane = SendBudget.objects.get(channel="telegram+paid")
    assert lane.paused_until is not None
    assert lane.paused_until > timezone.now() + timedelta(minutes=5)
    # While the lane is closed, a surge goes on the free lane alone.
    _queue(9_310_000, 40)
    sender = TelegramSender()
    try:
        _drain(sender, 20)
    finally:
        sender.close()
    assert not [c for c in fake.sent() if _paid(c)]
