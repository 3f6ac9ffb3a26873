"""Batches: several chats' events in one transaction, each in its own savepoint — a failing
event is rolled back and counted alone, the others commit; a chat's order is kept."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from lifeline.channels import inbox
from lifeline.channels.models import InboundEvent, InboundStatus
from lifeline.contacts.models import Contact

pytestmark = pytest.mark.django_db

SEEN: list[str] = []


def recording_handler(event: InboundEvent) -> tuple[Any, list[Any]]:
    """Writes a row (to show a failure rolls back its own writes), then fails if asked."""
    payload = event.payload or {}
    Contact.objects.create(language="ru")
    if payload.get("fail"):
        raise RuntimeError("this event cannot be processed")
    SEEN.append(str(payload["name"]))
    return None, []


@pytest.fixture
def batch_channel(monkeypatch: pytest.MonkeyPatch) -> str:
    SEEN.clear()
    monkeypatch.setitem(inbox.HANDLERS, "batch", f"{__name__}.recording_handler")
    return "batch"


def store(channel: str, key: str, name: str, arrival: int, *, fail: bool = False) -> None:
    inbox.inbound_store(
        channel=channel,
        external_id=name,
        payload={"name": name, "fail": fail},
        ordering_key=key,
        arrival=arrival,
    )


def test_a_batch_takes_one_event_per_chat_and_a_failure_stays_its_own(batch_channel: str) -> None:
    store(batch_channel, "a", "a1", 1)
    store(batch_channel, "a", "a2", 2)
    store(batch_channel, "a", "a3", 3)
    store(batch_channel, "b", "b1", 4, fail=True)
    store(batch_channel, "c", "c1", 5)

    assert inbox.process_batch(channel=batch_channel, size=10) == 3  # a1, b1, c1: heads only
    assert sorted(SEEN) == ["a1", "c1"]
    failed = InboundEvent.objects.get(external_id="b1")
    assert failed.status == InboundStatus.PENDING
    assert failed.attempts == 1
    assert failed.payload == {"name": "b1", "fail": True}  # kept for the next attempt
    assert failed.next_attempt_at is not None
    assert failed.next_attempt_at > timezone.now()
    # The failed event's own write was rolled back with its savepoint; the others' were kept.
    assert Contact.objects.count() == 2

    assert inbox.process_batch(channel=batch_channel, size=10) == 1  # a2; b1 waits its turn
    assert inbox.process_batch(channel=batch_channel, size=10) == 1  # a3
    assert inbox.process_batch(channel=batch_channel, size=10) == 0
    assert SEEN == ["a1", "c1", "a2", "a3"] or SEEN == ["c1", "a1", "a2", "a3"]
    done = InboundEvent.objects.filter(status=InboundStatus.DONE)
    assert set(done.values_list("external_id", flat=True)) == {"a1", "a2", "a3", "c1"}
    assert all(event.payload is None for event in done)  # purged once processed


def test_process_all_counts_events_not_batches(batch_channel: str) -> None:
    for chat in range(7):
        for n in range(3):
            store(batch_channel, f"k{chat}", f"e{chat}-{n}", chat * 10 + n)
    assert inbox.process_all(limit=5) == 5
    assert inbox.process_all(limit=100) == 16
    for chat in range(7):
        assert [s for s in SEEN if s.startswith(f"e{chat}-")] == [
            f"e{chat}-0",
            f"e{chat}-1",
            f"e{chat}-2",
        ]
