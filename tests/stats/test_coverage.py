"""Statistics coverage, found by an adversarial review of the figures: every inbound message
(photos and voice included), every first contact (phone included), calls by direction, one
disposition event per person and kind, and a backfill that neither misses nor doubles events."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from lifeline.stats import figures, rollups
from lifeline.stats.models import StatEvent

pytestmark = pytest.mark.django_db


def _backfill() -> str:
    out = io.StringIO()
    call_command("stats_backfill", stdout=out)
    return out.getvalue()


def _count(kind: str, **filters: Any) -> int:
    return StatEvent.objects.filter(kind=kind, **filters).count()


# -- Events not recorded ---------------------------------------------------------------------


def test_a_photo_or_voice_message_is_a_message_in() -> None:
    """A photo or a voice message joins the transcript as an inbound message: it is a
    ``message.in`` like a text."""
    from lifeline.conversations import media
    from lifeline.conversations.models import Direction, MediaKind, Message
    from tests.factories import telegram_conversation

    conversation = telegram_conversation("777001")
    before = _count("message.in")
    with transaction.atomic():
        media.receive(conversation, MediaKind.PHOTO, "")
        media.receive(conversation, MediaKind.VOICE, "")
    assert Message.objects.filter(conversation=conversation, direction=Direction.IN).count() == 2
    assert _count("message.in") - before == 2


def test_a_call_from_a_new_number_is_a_first_contact_by_phone() -> None:
    """A call from a number never heard before is a first contact by phone; its second call
    is not."""
    from lifeline.phone import cti

    cti.handle("pbx1", {"event": "newCall", "callId": "adv-1", "from": "+380501234567"})
    assert _count("call.received") == 1
    assert _count("contact.new", channel="phone") == 1
    cti.handle("pbx1", {"event": "newCall", "callId": "adv-2", "from": "+380501234567"})
    assert _count("call.received") == 2
    assert _count("contact.new", channel="phone") == 1
    # The backfill implies the same: nothing to add.
    assert "0 events added" in _backfill()


def test_lost_message_events_are_rebuilt_by_the_backfill() -> None:
    """Lost ``message.in`` events are rebuilt from the stored inbound messages."""
    from tests.factories import say, telegram_conversation

    conversation = telegram_conversation("777002")
    say(conversation, "/start", "hello")
    recorded = _count("message.in")
    assert recorded == 2
    StatEvent.objects.filter(kind="message.in").delete()  # e.g. a restore without stats
    _backfill()
    assert figures.totals(["message.in"])["message.in"] == recorded


# -- Double counting -------------------------------------------------------------------------


def _surrendered_case() -> tuple[Any, Any]:
    from tests.factories import Staff, advance, create_case

    staff = Staff()
    case = create_case()
    advance(case, "surrendered", staff)
    return case, staff


def test_the_backfill_does_not_add_a_disposition_again_after_its_note_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Editing the note of a disposition a day later adds no event, live or by the backfill
    (which reads the case's disposition events, not the disposition's last change)."""
    from lifeline.cases import workflow

    case, staff = _surrendered_case()
    real_now = timezone.now
    yesterday = real_now() - timedelta(days=1)
    monkeypatch.setattr(timezone, "now", lambda: yesterday)
    workflow.case_set_disposition(case=case, actor=staff.supervisor, kind="asylum")
    monkeypatch.setattr(timezone, "now", real_now)
    rollups.rollup_all()
    assert figures.totals(["disposition.asylum"])["disposition.asylum"] == 1
    # Today: only the note is corrected; not another person, and no statistic (as intended).
    workflow.case_set_disposition(
        case=case, actor=staff.supervisor, kind="asylum", note="a correction"
    )
    rollups.rollup_all()
    assert figures.totals(["disposition.asylum"])["disposition.asylum"] == 1
    _backfill()
    assert figures.totals(["disposition.asylum"])["disposition.asylum"] == 1


def test_a_disposition_changed_back_is_not_counted_twice() -> None:
    """Awaiting exchange → detained → awaiting exchange: one ``disposition.awaiting_exchange``
    for the one person."""
    from lifeline.cases import workflow

    case, staff = _surrendered_case()
    for kind in ("awaiting_exchange", "detained", "awaiting_exchange"):
        workflow.case_set_disposition(case=case, actor=staff.supervisor, kind=kind)
    assert _count("disposition.awaiting_exchange") == 1


def test_the_backfill_is_not_fooled_by_a_record_and_its_event_either_side_of_midnight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event takes its record's own time: a record and a statistics clock read either side
    of a UTC midnight do not make the backfill (compared per day) add the event again."""
    from lifeline.stats import services
    from tests.factories import create_case

    midnight = datetime.combine(timezone.now().date(), datetime.min.time(), tzinfo=UTC)

    class Clock:
        @staticmethod
        def now() -> datetime:
            return midnight + timedelta(microseconds=1)

    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: midnight - timedelta(microseconds=1))
    monkeypatch.setattr(services, "timezone", Clock)  # the stat a moment later
    create_case()
    monkeypatch.setattr(timezone, "now", real_now)
    monkeypatch.setattr(services, "timezone", timezone)
    rollups.rollup_all()
    assert figures.totals(["case.applied"])["case.applied"] == 1
    _backfill()
    assert figures.totals(["case.applied"])["case.applied"] == 1


def test_an_outbound_call_is_not_a_call_received() -> None:
    """An outbound leg (a call back the person did not pick up) is neither a call received nor
    a call missed."""
    from lifeline.phone import cti

    cti.handle(
        "pbx1",
        {"event": "newCall", "callId": "adv-out", "from": "+380501234568", "direction": "out"},
    )
    cti.handle("pbx1", {"event": "hangup", "callId": "adv-out"})
    assert _count("call.received") == 0
    assert _count("call.missed") == 0
