"""The Django host: flows applied to real cases, commands, pinning, hand-off, erasure."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.cases import codenames
from lifeline.cases.models import Case
from lifeline.conversations.host import FlowVersionConflict
from lifeline.conversations.models import (
    Conversation,
    ConversationStatus,
    FlowRun,
    FlowVersion,
    Message,
)
from lifeline.core import crypto
from lifeline.stats.models import StatEvent
from tests.factories import say, telegram_conversation

pytestmark = pytest.mark.django_db

FLOWS = Path(__file__).resolve().parents[2] / "flows"

INTAKE_RU = [
    "Военный, хочу подать заявку",
    "Мобилизован",
    "Образцов Олег Петрович",
    "23.11.1995",
    "АБ-654321",
    "ефрейтор",
    "в/ч 00003",
    "Белгородская область",
    "С группой",
    "3",
    "Забрали, есть второй",
    "Да, отправить",
]


def new_conversation(address: str = "700100200", language: str = "ru") -> Conversation:
    conversation: Conversation = telegram_conversation(address, language)
    return conversation


def test_the_first_message_starts_the_intake_in_the_persons_language() -> None:
    conversation = new_conversation(language="uk")
    (reply,) = say(conversation, "привіт")
    assert "Хто ви?" in reply.text
    assert reply.buttons[0] == "Військовий, хочу подати заявку"


def test_a_full_application_lands_in_a_case() -> None:
    conversation = new_conversation()
    say(conversation, "/start")
    replies = say(conversation, *INTAKE_RU)
    case = Case.objects.get()
    assert case.status == "applied"
    assert case.requester == conversation.contact
    assert case.channel == "telegram"
    assert case.language == "ru"
    assert (case.full_name, case.birth_date, case.service_number) == (
        "Образцов Олег Петрович",
        date(1995, 11, 23),
        "АБ-654321",
    )
    assert (case.rank, case.unit, case.location) == (
        "ефрейтор",
        "в/ч 00003",
        "Белгородская область",
    )
    assert (case.mobilisation_status, case.group_size, case.phone_situation) == (
        "mobilised",
        3,
        "second_phone",
    )
    assert case.service_number_index == crypto.service_number_index("аб 654 321")
    # The codename is shown once, and only its hash is kept.
    text = "\n".join(r.text for r in replies)
    shown = text.split("кодовое слово: ")[1].split("\n")[0].strip()
    assert len(shown.split()) == codenames.WORD_COUNT
    assert all(word in codenames.words() for word in shown.split())
    assert shown not in case.codename_hash
    assert crypto.verify_secret(codenames.normalise(shown), case.codename_hash)
    # The run is over and keeps no answers; the transcript is stored, encrypted.
    run = FlowRun.objects.get(flow="soldier_intake")
    assert run.status == "ended"
    assert run.state is None
    assert run.case == case
    assert Message.objects.filter(conversation=conversation, direction="in").count() == 13
    assert StatEvent.objects.filter(kind="case.applied", channel="telegram").count() == 1


def test_codename_bits() -> None:
    assert codenames.bits() >= 60


def test_unfitting_answers_get_a_localised_retry_then_an_operator() -> None:
    conversation = new_conversation(language="en")
    say(conversation, "/start", "A serviceman, I want to apply", "Mobilised", "John Smith Doe")
    (retry,) = say(conversation, "sometime in spring")
    assert retry.text == "I could not read that date. Please write it like this: 12.03.1995"
    say(conversation, "31.02.1990", "tomorrow")
    (handoff,) = say(conversation, "no idea")
    assert "An operator will join" in handoff.text
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.WAITING
    assert conversation.waiting_since is not None
    # While an operator has the conversation, the bot stays silent.
    assert say(conversation, "hello?") == []
    assert Message.objects.filter(conversation=conversation, direction="in").count() == 9


def test_lang_switches_at_any_moment_and_repeats_the_question() -> None:
    conversation = new_conversation()
    say(conversation, "/start", "Военный, хочу подать заявку")
    replies = say(conversation, "/lang uk")
    assert replies[0].text == "Мову змінено."
    assert replies[-1].text == "Як ви потрапили на службу?"
    assert replies[-1].buttons[0] == "Мобілізований"
    conversation.refresh_from_db()
    assert conversation.language == "uk"
    assert conversation.contact.language == "uk"
    (choose,) = say(conversation, "/lang")
    assert choose.buttons == ("/lang ru", "/lang uk", "/lang en")
    (next_question,) = say(conversation, "Мобілізований")
    assert "прізвище" in next_question.text


def test_forget_asks_first_then_erases() -> None:
    conversation = new_conversation()
    say(conversation, "/start", *INTAKE_RU)
    (question,) = say(conversation, "/forget")
    assert "Удалить всё?" in question.text
    assert len(question.buttons) == 2
    (kept,) = say(conversation, question.buttons[1])
    assert Case.objects.get().full_name == "Образцов Олег Петрович"
    say(conversation, "/forget")
    (done,) = say(conversation, question.buttons[0])
    case = Case.objects.get()
    assert case.full_name is None
    assert case.service_number is None
    assert case.birth_date is None
    assert case.codename_hash == ""
    assert case.status == "withdrawn"
    (left,) = Message.objects.filter(conversation__contact=conversation.contact)
    assert left.text == done.text  # only the confirmation that everything is gone
    assert kept.text != done.text


def test_a_run_keeps_the_flow_version_it_started_on(
    tmp_path: Path, settings: SettingsWrapper
) -> None:
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder, ignore=shutil.ignore_patterns("scripts"))
    settings.LIFELINE_FLOWS_DIR = folder
    conversation = new_conversation()
    say(conversation, "/start", "Военный, хочу подать заявку")
    intake = folder / "soldier_intake.yaml"
    source = intake.read_text(encoding="utf-8")
    changed = source.replace(
        '"Напишите ваши фамилию, имя и отчество."', '"Как вас зовут? Фамилия, имя, отчество."'
    )
    # Editing without raising the version is refused: runs could not be pinned.
    intake.write_text(changed, encoding="utf-8")
    other = new_conversation(address="700100201")
    with pytest.raises(FlowVersionConflict):
        say(other, "/start")
    intake.write_text(changed.replace("\nversion: 2\n", "\nversion: 3\n", 1), encoding="utf-8")
    (old,) = say(conversation, "Мобилизован")
    assert old.text == "Напишите ваши фамилию, имя и отчество."  # still version 2
    say(other, "/start", "Военный, хочу подать заявку")
    (new,) = say(other, "Мобилизован")
    assert new.text == "Как вас зовут? Фамилия, имя, отчество."
    assert set(
        FlowVersion.objects.filter(name="soldier_intake").values_list("version", flat=True)
    ) == {2, 3}


def test_an_idle_run_expires_and_starts_again() -> None:
    conversation = new_conversation()
    say(conversation, "/start", "Военный, хочу подать заявку")
    run = FlowRun.objects.get(status="active")
    state = dict(run.state)
    state["last_activity"] = (timezone.now() - timedelta(days=2)).isoformat()
    run.state = state
    run.save()
    replies = say(conversation, "Мобилизован")
    assert "начнём сначала" in replies[0].text.lower() or "start again" in replies[0].text
    assert "Кто вы?" in replies[-1].text


def _verified_case_with_codename(contact: object | None = None) -> tuple[Case, str]:
    from lifeline.cases import workflow
    from tests.factories import CHECKLIST, Staff, advance, create_case

    staff = Staff()
    case = create_case(service_number="ФР-123456", requester=contact)
    advance(case, "verified", staff)
    words = codenames.generate()
    workflow.case_set_codename(case=case, codename=words)
    assert CHECKLIST
    return case, words


FRONT_START = ["/start", "I applied before, I am at the front"]


def test_stage_two_from_a_second_phone_reidentifies_and_alerts() -> None:
    case, words = _verified_case_with_codename()
    conversation = new_conversation(address="700999111", language="en")  # a second phone
    say(conversation, *FRONT_START, "ФР 123456")
    (wrong,) = say(conversation, "сова мост луна")[:1]
    assert "did not match" in wrong.text
    replies = say(
        conversation, words.upper(), "a farm north of the village", "3", "Someone is wounded"
    )
    assert any("Stop the bleeding" in r.text for r in replies)
    case.refresh_from_db()
    assert case.status == "ready"
    assert (case.location, case.group_size, case.urgency) == (
        "a farm north of the village",
        3,
        "wounded",
    )
    event = case.events.get(to_status="ready")
    assert event.actor is None
    assert event.actor_label == "flow:front_contact"
    assert event.data == {"reidentified_by": "codename"}
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.WAITING
    assert conversation.priority == 1
    run = FlowRun.objects.get(flow="front_contact")
    assert run.case == case
    assert run.state is None


def test_stage_two_locks_after_three_wrong_code_words() -> None:
    case, _words = _verified_case_with_codename()
    conversation = new_conversation(address="700999112", language="en")
    say(conversation, *FRONT_START, "ФР-123456")
    for attempt in range(3):
        replies = say(conversation, f"wrong words number {attempt}")
    assert any("operator" in r.text.lower() for r in replies)
    case.refresh_from_db()
    assert case.status == "verified"
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.WAITING
    assert StatEvent.objects.filter(kind="reidentify.failed").count() == 3


def test_a_relative_application_has_no_codename() -> None:
    conversation = new_conversation(address="700999113", language="en")
    say(conversation, "/start", "A relative or someone close")
    run = FlowRun.objects.get(status="active")
    assert run.flow == "relative_intake"
    replies = say(
        conversation,
        "6",
        "Fyodor Ivanovich Primerov",
        "yes",
        "1990-11-05",
        "unknown",
        "unknown",
        "Donetsk region",
        "He has a second phone",
        "Yes, send it",
    )
    case = Case.objects.get()
    assert case.requester_relation == "other"
    assert case.requester == conversation.contact
    assert (case.full_name, case.birth_date) == ("Fyodor Ivanovich Primerov", date(1990, 11, 5))
    assert case.service_number is None
    assert case.unit is None
    assert case.service_number_index == ""
    assert case.phone_situation == "second_phone"
    assert case.codename_hash == ""
    assert not any("code words" in r.text for r in replies)


def test_every_action_a_flow_may_name_has_one_handler_in_the_host() -> None:
    from lifeline.conversations.engine.model import ACTION_KINDS, OPERATIONS
    from lifeline.conversations.host import ACTION_HANDLERS

    assert set(ACTION_HANDLERS) | set(OPERATIONS) >= set(ACTION_KINDS)
    assert not set(ACTION_HANDLERS) & set(OPERATIONS)


def test_the_host_reads_yes_with_the_engines_words() -> None:
    from lifeline.conversations.engine.inputs import YES, is_yes

    assert all(is_yes(word) for word in YES)
    assert is_yes("Да!")
    assert is_yes("так, видаліть")
    assert is_yes("1")
    assert not is_yes("нет")
    assert not is_yes("2")
    assert not is_yes("")
