"""The man at the front is never lost, and the applicant is not left alone: the stage-2 phrase
starts stage 2 from any entry point; a message after applying reaches an operator's queue
instead of restarting the intake; the front mark stays on the queue row, with its reason,
until the person is handed back to the bot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from lifeline.audit.models import AuditEntry
from lifeline.cases import workflow
from lifeline.cases.models import Case
from lifeline.conversations import services
from lifeline.conversations.host import is_stage2_phrase
from lifeline.conversations.models import (
    Conversation,
    ConversationStatus,
    FlowRun,
    FlowRunStatus,
    WaitingReason,
)
from tests.factories import (
    CHECKLIST,
    Staff,
    create_case,
    login_verified,
    say,
    telegram_conversation,
)

pytestmark = pytest.mark.django_db

INTAKE_RU = [
    "Военный, хочу подать заявку",
    "Мобилизован",
    "Образцов Олег Петрович",
    "23.11.1995",
    "АБ-654321",
    "ефрейтор",
    "в/ч 00003",
    "Белгородская область",
    "Один",
    "Забрали, есть второй",
    "Да, отправить",
]


@pytest.fixture(autouse=True)
def _clear_limits() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def conversation(address: str = "700300400", language: str = "ru") -> Conversation:
    conversation: Conversation = telegram_conversation(address, language)
    return conversation


def active_flow(conv: Conversation) -> str | None:
    run = FlowRun.objects.filter(conversation=conv, status=FlowRunStatus.ACTIVE).first()
    return run.flow if run else None


@pytest.mark.parametrize(
    "text",
    [
        "Я на фронте, хочу сдаться",
        "я на фронте",
        "Я НА ФРОНТЕ!!! хочу сдатся",
        "Я уже на фронте",
        "Хочу в плен",
        "Я на фронті, хочу здатися",
        "хочу здатись",
        "I am at the front, I want to surrender",
        "I'm at the front",
    ],
)
def test_the_stage2_phrase_and_its_variants_are_recognised(text: str) -> None:
    assert is_stage2_phrase(text)


@pytest.mark.parametrize(
    "text", ["Здравствуйте", "Белгородская область", "фронтенд", "I want to live", "/start"]
)
def test_other_text_is_not_the_stage2_phrase(text: str) -> None:
    assert not is_stage2_phrase(text)


def test_the_phrase_as_a_first_message_starts_stage_2() -> None:
    conv = conversation()
    replies = say(conv, "Я на фронте, хочу сдаться")
    assert active_flow(conv) == "front_contact"
    assert "личный номер" in replies[-1].text  # his service number is asked, not "who are you"


@pytest.mark.parametrize("language", ["ru", "uk", "en"])
def test_the_phrase_typed_at_the_greeting_starts_stage_2(language: str) -> None:
    conv = conversation(language=language)
    say(conv, "/start")
    assert active_flow(conv) == "soldier_intake"
    phrase = {"ru": "я на фронте", "uk": "Я на фронті", "en": "I am at the front"}[language]
    say(conv, phrase)
    assert active_flow(conv) == "front_contact"


def test_a_question_after_applying_reaches_the_queue_instead_of_a_restart() -> None:
    conv = conversation()
    replies = say(conv, "/start", *INTAKE_RU)
    assert any("Что дальше" in reply.text for reply in replies)  # he is told what happens next
    assert Case.objects.count() == 1
    runs_before = FlowRun.objects.filter(conversation=conv).count()

    replies = say(conv, "Спасибо, а что теперь? Мне кто-нибудь напишет?")
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.WAITING
    assert conv.waiting_reason == WaitingReason.AFTER_APPLICATION
    assert conv.priority == 0
    assert FlowRun.objects.filter(conversation=conv).count() == runs_before  # no new intake
    assert "оператор" in replies[0].text.casefold()
    # The operator sees it in the queue, and the next message waits for him too.
    staff = Staff()
    assert conv in services.queue(staff.operator)
    assert say(conv, "Алло?") == []
    # /start still starts over, for whoever wants to.
    say(conv, "/start")
    assert active_flow(conv) == "soldier_intake"


def test_failed_code_words_keep_the_front_mark_after_an_operator_takes_it() -> None:
    staff = Staff()
    case = create_case(service_number="ПР-000077")
    workflow.case_set_codename(case=case, codename="берёза чайник сова мост карандаш лес")
    conv = conversation(address="700300401")
    say(conv, "Я на фронте", "ПР-000077")
    for _ in range(3):
        say(conv, "совсем не те слова")
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.WAITING
    assert conv.priority == 1
    assert conv.waiting_reason == WaitingReason.FRONT_UNVERIFIED
    assert services.queue(staff.operator).first() == conv  # front first

    services.conversation_take(conversation=conv, actor=staff.operator)
    services.conversation_reply(conversation=conv, actor=staff.operator, text="Я с вами.")
    conv.refresh_from_db()
    assert (conv.priority, conv.waiting_reason) == (1, WaitingReason.FRONT_UNVERIFIED)

    services.conversation_return_to_bot(conversation=conv, actor=staff.operator)
    conv.refresh_from_db()
    assert (conv.priority, conv.waiting_reason) == (0, "")


def test_the_phrase_while_an_operator_has_the_conversation_marks_it_front() -> None:
    staff = Staff()
    conv = conversation(address="700300402")
    say(conv, "/start", "Военный, хочу подать заявку", "нечто", "нечто", "нечто", "нечто")
    conv.refresh_from_db()
    assert conv.status == ConversationStatus.WAITING  # the intake handed off after its retries
    assert (conv.priority, conv.waiting_reason) == (0, WaitingReason.HANDOFF)
    services.conversation_take(conversation=conv, actor=staff.operator)
    assert say(conv, "Я на фронте, хочу сдаться") == []  # it waits for the operator
    conv.refresh_from_db()
    assert (conv.priority, conv.waiting_reason) == (1, WaitingReason.FRONT_UNVERIFIED)


def test_the_operator_at_stage_2_sees_the_case_he_reidentified_and_may_open_it(
    client: Client,
) -> None:
    staff = Staff()
    case = create_case(service_number="ПР-000078")
    workflow.case_set_codename(case=case, codename="берёза чайник сова мост карандаш лес")
    workflow.case_verify(case=case, actor=staff.verifier, checklist=CHECKLIST)
    # He writes from a second phone: a contact the case has never seen.
    conv = conversation(address="700300403")
    say(conv, "Я на фронте", "ПР-000078", "берёза чайник сова мост карандаш лес")
    say(conv, "у моста на окраине", "2", "4")
    conv.refresh_from_db()
    assert conv.waiting_reason == WaitingReason.FRONT
    assert (conv.priority, conv.status) == (1, ConversationStatus.WAITING)

    login_verified(client, staff.operator)
    assert client.get(f"/console/cases/{case.pk}/").status_code in (403, 404)  # not his yet
    services.conversation_take(conversation=conv, actor=staff.operator)
    page = client.get(f"/console/conversations/{conv.pk}/").content.decode()
    assert case.number in page
    assert "yes, by code words" in page or "да, по кодовым словам" in page
    assert client.get(f"/console/cases/{case.pk}/").status_code == 200
    assert AuditEntry.objects.filter(actor=staff.operator, object_id=str(case.pk)).exists()


@pytest.mark.parametrize(("language", "word"), [("ru", "Дела"), ("uk", "Справи"), ("en", "Cases")])
def test_the_console_menu_names_cases_in_the_nominative(language: str, word: str) -> None:
    from django.utils.translation import gettext, override

    with override(language):
        assert gettext("Cases") == word
