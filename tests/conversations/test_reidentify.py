"""Stage-2 re-identification: no timing oracle, no answer oracle, limits across sessions.

The adversary holds a list of service numbers and probes the anonymous web chat with a fresh
cookie each time, hoping that a known number answers more slowly or differently. Each attempt
must cost exactly one password hash and answer the same, whether 0, 1 or 20 cases match.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.cases import workflow
from lifeline.cases.models import Case
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.host import Reply, conversation_input, start_flow, store_replies
from lifeline.conversations.models import (
    Conversation,
    ConversationStatus,
    FlowRun,
    FlowRunStatus,
    Message,
)
from lifeline.core import crypto
from lifeline.core.channels import Channel
from tests.factories import CHECKLIST, Staff, create_case

pytestmark = pytest.mark.django_db

GENUINE_WORDS = "берёза чайник сова мост карандаш лес"
WRONG_WORDS = "берёза чайник сова мост карандаш луна"


@pytest.fixture(autouse=True)
def _clear_limits() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts scrypt computations (each is one password-hash verification or creation)."""
    calls: list[int] = []
    real: Callable[..., bytes] = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(crypto.hashlib, "scrypt", counting)
    return calls


def web_conversation() -> Conversation:
    identity = identity_get_or_create(channel=Channel.WEB, address=secrets.token_urlsafe(16))
    return Conversation.objects.create(
        contact=identity.contact, identity=identity, channel=Channel.WEB, language="en"
    )


def at_code_words(conversation: Conversation, service_number: str) -> None:
    store_replies(conversation, start_flow(conversation, "front_contact"))
    conversation_input(conversation, service_number)


def attempt(
    service_number: str, words: str, conversation: Conversation | None = None
) -> list[Reply]:
    conversation = conversation or web_conversation()
    at_code_words(conversation, service_number)
    return conversation_input(conversation, words)


def planted(service_number: str, count: int) -> list[Case]:
    cases = []
    for n in range(count):
        case = create_case(service_number=service_number)
        workflow.case_set_codename(case=case, codename=f"ложные слова номер {n} для пробы")
        cases.append(case)
    return cases


def genuine(service_number: str, staff: Staff) -> Case:
    case = create_case(service_number=service_number)
    workflow.case_set_codename(case=case, codename=GENUINE_WORDS)
    workflow.case_verify(case=case, actor=staff.verifier, checklist=CHECKLIST)
    return case


def texts(replies: list[Reply]) -> list[tuple[str, tuple[str, ...]]]:
    return [(r.text, r.buttons) for r in replies]


@pytest.mark.parametrize("matching", [0, 1, 20])
def test_a_wrong_attempt_costs_one_hash_however_many_cases_match(
    matching: int, hashes: list[int]
) -> None:
    planted("ПР-000001", matching)
    conversation = web_conversation()
    at_code_words(conversation, "ПР-000001")
    hashes.clear()
    replies = conversation_input(conversation, WRONG_WORDS)
    assert len(hashes) == 1
    assert "That did not match" in replies[0].text


def test_the_genuine_man_is_found_among_planted_cases_with_one_hash(hashes: list[int]) -> None:
    staff = Staff()
    planted("ПР-000002", 20)
    case = genuine("ПР-000002", staff)
    conversation = web_conversation()
    at_code_words(conversation, "пр 000002")
    hashes.clear()
    replies = conversation_input(conversation, GENUINE_WORDS.upper())
    assert len(hashes) == 1
    assert "we know it is you" in replies[0].text
    run = FlowRun.objects.get(conversation=conversation, status=FlowRunStatus.ACTIVE)
    assert run.case_id == case.pk
    assert run.reidentified_by == "codename"


def test_the_wrong_words_answer_is_byte_identical_for_known_and_unknown_numbers() -> None:
    staff = Staff()
    genuine("ПР-000003", staff)
    planted("ПР-000003", 5)
    known = attempt("ПР-000003", WRONG_WORDS)
    unknown = attempt("ПР-999999", WRONG_WORDS)
    nothing = attempt("нет", WRONG_WORDS)
    assert texts(known) == texts(unknown) == texts(nothing)
    assert [r.secret for r in known] == [r.secret for r in unknown] == [False] * len(known)


def test_attempts_are_limited_per_service_number_across_sessions(
    settings: SettingsWrapper, hashes: list[int]
) -> None:
    settings.LIFELINE_REIDENTIFY_LIMIT = 3
    staff = Staff()
    genuine("ПР-000004", staff)
    for _ in range(3):  # three probes, each with a fresh cookie
        assert "That did not match" in attempt("ПР-000004", WRONG_WORDS)[0].text
    conversation = web_conversation()
    at_code_words(conversation, "ПР-000004")
    hashes.clear()
    limited = conversation_input(conversation, GENUINE_WORDS)  # even the right words now
    assert hashes == []  # no hash is computed past the limit
    assert "An operator will check it is you" in limited[0].text
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.WAITING
    assert conversation.priority == 1  # marked as stage 2 in the operators' queue
    # An unknown number past its limit answers exactly the same.
    for _ in range(3):
        attempt("ПР-888888", WRONG_WORDS)
    assert texts(attempt("ПР-888888", WRONG_WORDS)) == texts(limited)


def test_attempts_are_limited_per_identity_across_runs(
    settings: SettingsWrapper, hashes: list[int]
) -> None:
    settings.LIFELINE_REIDENTIFY_LIMIT = 4
    conversation = web_conversation()
    numbers = iter(f"ПР-10000{n}" for n in range(10))
    at_code_words(conversation, next(numbers))
    for _ in range(3):  # one run: locked after three wrong tries
        replies = conversation_input(conversation, WRONG_WORDS)
    assert "An operator will check it is you" in replies[0].text
    # /start again, another number: one more try is allowed, then the identity's limit holds.
    conversation_input(conversation, "/start")
    at_code_words(conversation, next(numbers))
    assert "That did not match" in conversation_input(conversation, WRONG_WORDS)[0].text
    hashes.clear()
    replies = conversation_input(conversation, WRONG_WORDS)
    assert hashes == []
    assert "An operator will check it is you" in replies[0].text


def test_a_global_hash_budget_stops_a_probe_flood(
    settings: SettingsWrapper, hashes: list[int]
) -> None:
    settings.LIFELINE_BUDGETS = {"secret_hash": (2, 60)}
    settings.LIFELINE_BUDGET_SHARES = {}
    attempt("ПР-200001", WRONG_WORDS)
    attempt("ПР-200002", WRONG_WORDS)
    conversation = web_conversation()
    at_code_words(conversation, "ПР-200003")
    hashes.clear()
    replies = conversation_input(conversation, WRONG_WORDS)
    assert hashes == []
    assert "An operator will check it is you" in replies[0].text
    conversation.refresh_from_db()
    assert (conversation.status, conversation.priority) == (ConversationStatus.WAITING, 1)


def test_a_web_probe_flood_does_not_starve_telegram(
    settings: SettingsWrapper, hashes: list[int]
) -> None:
    """Anonymous web probes (a fresh cookie each) spend the web chat's share of the hash budget
    only: a soldier writing from Telegram still has his code words checked by the bot."""
    settings.LIFELINE_BUDGETS = {"secret_hash": (10, 60)}
    settings.LIFELINE_BUDGET_SHARES = {"secret_hash": {"web": 0.4, "telegram": 0.4}}
    for n in range(6):
        attempt(f"ПР-3000{n:02d}", WRONG_WORDS)
    assert len(hashes) == 4  # the web share: 4 of 10
    staff = Staff()
    case = genuine("ПР-300099", staff)
    identity = identity_get_or_create(channel=Channel.TELEGRAM, address="424242")
    telegram = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel=Channel.TELEGRAM, language="en"
    )
    at_code_words(telegram, "ПР-300099")
    hashes.clear()
    replies = conversation_input(telegram, GENUINE_WORDS)
    assert hashes == [1]
    assert "An operator will check it is you" not in replies[0].text
    run = FlowRun.objects.get(conversation=telegram, status=FlowRunStatus.ACTIVE)
    assert run.case_id == case.pk


def test_typed_code_words_are_never_stored() -> None:
    staff = Staff()
    case = genuine("ПР-000005", staff)
    conversation = web_conversation()
    at_code_words(conversation, "ПР-000005")
    conversation_input(conversation, WRONG_WORDS)
    conversation_input(conversation, GENUINE_WORDS)
    incoming = list(
        Message.objects.filter(conversation=conversation, direction="in")
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    texts_in = [Message.objects.get(pk=pk).text for pk in incoming]
    assert texts_in == [
        "ПР-000005",
        "[code words entered — not matched]",
        "[code words entered — matched]",
    ]
    run = FlowRun.objects.get(conversation=conversation, status=FlowRunStatus.ACTIVE)
    assert run.case_id == case.pk
    assert "codename" not in (run.state or {}).get("results", {})


def test_issued_code_words_are_kept_only_as_a_placeholder() -> None:
    conversation = web_conversation()
    conversation.language = "ru"
    conversation.save()
    answers = [
        "Военный, хочу подать заявку",
        "2",
        "Примеров Фёдор Иванович",
        "02.07.1987",
        "ДЕМО-000102",
        "сержант",
        "в/ч 00002",
        "не могу",
        "Один",
        "Забрали, есть второй",
    ]
    store_replies(conversation, start_flow(conversation, "soldier_intake"))
    for text in answers:
        conversation_input(conversation, text)
    replies = conversation_input(conversation, "да")
    (shown,) = [r for r in replies if r.secret]
    case = Case.objects.get(requester=conversation.contact)
    words = shown.text.rsplit(":", 1)[1].strip()
    assert len(words.split()) == 6
    assert crypto.verify_secret(words, case.codename_hash)
    assert shown.message_id is not None
    stored = Message.objects.get(pk=shown.message_id).text or ""
    assert words not in stored
    assert "[код" in stored or "shown once" in stored
    for message in Message.objects.filter(conversation=conversation):
        assert words not in (message.text or "")
