"""Shared limits at the worker (issue 15, part 1): past his per-sender limit a Telegram sender's
messages wait, stored and in order, and he is told once; past the global flow-start budget a new
contact's first message waits (uncounted as a failure) while people already in a conversation
go on; past the daily number of applications with one service number, the answers go to an
operator instead of a new application. Nothing received is lost. Runs on SQLite (one event per
transaction) and on PostgreSQL (batches and the bulk step)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.cases.models import Case
from lifeline.channels import inbox
from lifeline.channels.models import InboundEvent, InboundStatus, OutboundMessage
from lifeline.contacts.models import Identity
from lifeline.conversations.models import Conversation, Direction, Message
from lifeline.core import crypto
from tests.channels.fake_telegram import update

pytestmark = pytest.mark.django_db

SECRET = "limits-test-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def _webhook_secret(settings: SettingsWrapper) -> None:
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET


def _webhook(data: dict[str, Any]) -> None:
    response = Client().post(
        "/telegram/webhook/",
        data=json.dumps(data),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET,
    )
    assert response.status_code == 200


def _conversation(chat_id: int) -> Conversation:
    identity = Identity.objects.get(
        channel="telegram", address_index=crypto.telegram_id_index(chat_id)
    )
    return Conversation.objects.get(identity=identity)


def _transcript_in(chat_id: int) -> list[str]:
    return [
        str(m.text)
        for m in Message.objects.filter(
            conversation=_conversation(chat_id), direction=Direction.IN
        ).order_by("created_at")
    ]


def _outbound_texts(chat_id: int) -> list[str]:
    return [
        m.text
        for m in OutboundMessage.objects.filter(conversation=_conversation(chat_id)).order_by("seq")
    ]


def _window_turns() -> None:
    """As if the limits' windows had ended: counters gone, the waiting events due."""
    cache.clear()
    InboundEvent.objects.filter(status=InboundStatus.PENDING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_past_his_limit_a_senders_messages_wait_in_order_and_he_is_told_once(
    settings: SettingsWrapper,
) -> None:
    settings.LIFELINE_SENDER_LIMITS = {"telegram": [(3, 60)]}
    texts = ["Здравствуйте", "1", "2", "3", "4", "5"]
    for n, text in enumerate(texts, start=1):
        _webhook(update(100 + n, 9001, text))
    _webhook(update(200, 9002, "Здравствуйте"))  # another person writes once

    inbox.process_all()

    # Three of his were taken; the other person was not held up by him.
    assert _transcript_in(9001) == texts[:3]
    assert _transcript_in(9002) == ["Здравствуйте"]
    waiting = InboundEvent.objects.filter(status=InboundStatus.PENDING).order_by("arrival")
    assert [e.external_id for e in waiting] == ["104", "105", "106"]
    head = waiting[0]
    assert head.attempts == 0  # waiting is not failing
    assert head.payload is not None  # kept, encrypted, until it is processed
    assert head.next_attempt_at is not None
    assert timezone.now() < head.next_attempt_at <= timezone.now() + timedelta(seconds=61)
    told = [t for t in _outbound_texts(9001) if "быстрее, чем мы успеваем читать" in str(t)]
    assert len(told) == 1

    # Processing again within the window takes none of his and tells him nothing more.
    InboundEvent.objects.filter(pk=head.pk).update(next_attempt_at=timezone.now())
    inbox.process_all()
    assert _transcript_in(9001) == texts[:3]
    assert (
        len([t for t in _outbound_texts(9001) if "быстрее, чем мы успеваем читать" in str(t)]) == 1
    )

    # The window turns: the rest are taken, in the order he wrote them.
    _window_turns()
    inbox.process_all()
    assert _transcript_in(9001) == texts
    assert not InboundEvent.objects.filter(status=InboundStatus.PENDING).exists()
    assert not InboundEvent.objects.filter(status=InboundStatus.FAILED).exists()


def test_a_spent_flow_start_budget_defers_new_contacts_and_not_conversations_under_way(
    settings: SettingsWrapper,
) -> None:
    # One person is already in the intake.
    _webhook(update(1, 9100, "/start"))
    inbox.process_all()
    asked = len(_outbound_texts(9100))
    settings.LIFELINE_BUDGETS = {**settings.LIFELINE_BUDGETS, "flow_start": (3, 60)}
    settings.LIFELINE_BUDGET_SHARES = {}
    cache.clear()
    for n in range(6):
        _webhook(update(10 + n, 9200 + n, "Здравствуйте"))
    _webhook(update(20, 9100, "Военный, хочу подать заявку"))  # his answer to the bot

    inbox.process_all()

    started = [
        n
        for n in range(6)
        if Identity.objects.filter(address_index=crypto.telegram_id_index(9200 + n)).exists()
    ]
    assert len(started) == 3
    deferred = InboundEvent.objects.filter(status=InboundStatus.PENDING)
    assert deferred.count() == 3
    assert {e.attempts for e in deferred} == {0}
    assert all(e.payload is not None for e in deferred)
    assert all(e.next_attempt_at and e.next_attempt_at > timezone.now() for e in deferred)
    # The conversation under way was answered.
    assert len(_outbound_texts(9100)) > asked
    assert InboundEvent.objects.get(external_id="20").status == InboundStatus.DONE

    _window_turns()
    inbox.process_all()
    for n in range(6):
        assert _transcript_in(9200 + n) == ["Здравствуйте"]
        assert _outbound_texts(9200 + n)  # every one got the bot's first question
    assert not InboundEvent.objects.exclude(status=InboundStatus.DONE).exists()


def test_only_a_new_persons_first_flow_takes_the_budget_and_stage_2_never_waits(
    settings: SettingsWrapper,
) -> None:
    """Someone who talked to the bot before restarts without waiting (his per-sender limit
    bounds him), and "I am at the front" from a new person is never held by a flood of new
    contacts. (Found by the adversarial review of issue 15: a flood of /start held stage 2.)"""
    _webhook(update(1, 9300, "Здравствуйте"))
    inbox.process_all()
    before = len(_outbound_texts(9300))
    settings.LIFELINE_BUDGETS = {**settings.LIFELINE_BUDGETS, "flow_start": (0, 60)}
    settings.LIFELINE_BUDGET_SHARES = {}
    _webhook(update(2, 9300, "/start"))
    _webhook(update(3, 9301, "Я на фронте, хочу сдаться"))
    _webhook(update(4, 9302, "Здравствуйте"))  # a new person: he waits for the window
    inbox.process_all()
    assert InboundEvent.objects.get(external_id="2").status == InboundStatus.DONE
    assert len(_outbound_texts(9300)) > before
    assert InboundEvent.objects.get(external_id="3").status == InboundStatus.DONE
    assert _outbound_texts(9301)  # stage 2's first question
    waiting = InboundEvent.objects.get(external_id="4")
    assert (waiting.status, waiting.attempts) == (InboundStatus.PENDING, 0)


def _apply(chat_id: int, first_update: int, service_number: str) -> None:
    answers = [
        "Здравствуйте",
        "Военный, хочу подать заявку",
        "2",
        "Примеров Фёдор Иванович",
        "02.07.1987",
        service_number,
        "сержант",
        "в/ч 00002",
        "не могу",
        "Один",
        "Забрали, есть второй",
        "Да, отправить",
    ]
    for n, text in enumerate(answers):
        _webhook(update(first_update + n, chat_id, text))
        inbox.process_all()


def test_the_same_service_number_again_is_flagged_and_answered_as_any_other() -> None:
    """No limit changes what the person is told (that would tell an adversary whether a man's
    number was given today): every application opens, the repeats are flagged for the
    verifiers. (Found by the adversarial review of issue 15.)"""
    for n in range(3):
        _apply(9400 + n, 1000 * (n + 1), "ТЛ-555555")
    index = crypto.service_number_index("ТЛ-555555")
    cases = list(Case.objects.filter(service_number_index=index).order_by("created_at"))
    assert len(cases) == 3
    last_answers = [_outbound_texts(9400 + n)[-2:] for n in range(3)]
    assert len({len(a) for a in last_answers}) == 1  # the same answer, every time
    reasons = [dict(map(tuple, case.suspicion_reasons or [])) for case in cases]
    assert "number_elsewhere" not in reasons[0]
    assert reasons[2]["number_elsewhere"] == 2
