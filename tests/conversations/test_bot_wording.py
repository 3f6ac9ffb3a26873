"""Bot wording: a free-text answer to a yes/no question is not misread (it is asked again and
stays in the transcript for the operator); "only through me" is recorded as that."""

from __future__ import annotations

from datetime import date

import pytest

from lifeline.cases.models import Case, PhoneSituation
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.engine.inputs import read
from lifeline.conversations.engine.model import Category, Router, Text
from lifeline.conversations.host import conversation_input
from lifeline.conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

YESNO = Router(
    kind="yesno",
    categories=(
        Category("yes", Text({"ru": "Да, знаю", "uk": "Так, знаю", "en": "Yes, I do"})),
        Category("no", Text({"ru": "Нет, не знаю", "uk": "Ні, не знаю", "en": "No, I don't"})),
    ),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("да", True),
        ("Да, знаю", True),
        ("да конечно", True),
        ("так", True),
        ("Yes", True),
        ("нет", False),
        ("Нет, не знаю", False),
        ("ні, не знаю", False),
        ("не помню точно, 1998 год", None),
        ("нет, но ему было 25 в прошлом году", None),
        ("да 1998", None),
        ("не знаю точно, кажется весной", None),
    ],
)
def test_yes_no_reads_only_what_is_a_yes_or_a_no(text: str, expected: bool | None) -> None:
    answer = read(YESNO, text, today=date(2026, 11, 22))
    assert (answer.value if answer else None) == expected


RELATIVE = [
    "/start",
    "Родственник или близкий",
    "Мать или отец",
    "Сидоров Пётр Ильич",
    "не помню точно, 1998 год",
    "нет",
    "не знаю",
    "не знаю",
    "не знаю",
    "Только через меня",
    "Да, отправить",
]


def test_a_mothers_free_answer_is_kept_and_only_through_me_is_recorded() -> None:
    identity = identity_get_or_create(channel="telegram", address="700500600", language="ru")
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel="telegram", language="ru"
    )
    replies = []
    for text in RELATIVE:
        replies.append(conversation_input(conversation, text))
    # "не помню точно, 1998 год" was not taken as "no": the question was asked again.
    assert "«да» или «нет»" in replies[4][0].text
    said = [m.text for m in Message.objects.filter(conversation=conversation, direction="in")]
    assert "не помню точно, 1998 год" in said  # kept for whoever reads the transcript
    case = Case.objects.get()
    assert case.phone_situation == PhoneSituation.VIA_RELATIVE
    assert case.get_phone_situation_display() == "Reached only through a relative"
    # And it reaches the verifier on the case itself, as the intake's note.
    created = case.events.get(kind="created")
    assert created.note is not None
    assert "не помню точно, 1998 год" in created.note


def test_unfitting_answers_are_capped_and_never_empty() -> None:
    from lifeline.conversations.engine import runner

    state = runner.RunState("f", 1, "ru", "n", runner.WAITING_INPUT)
    for i in range(runner.UNFIT_MAX + 5):
        state = runner._keep_unfit(state, "n", f"answer {i} " + "x" * 1000)
    state = runner._keep_unfit(state, "n", "   ")
    kept = state.results[runner.UNFIT_RESULT]
    assert len(kept) == runner.UNFIT_MAX
    assert all(len(item["text"]) <= runner.UNFIT_CHARS for item in kept)


def test_numbered_buttons_work_for_yes_and_no() -> None:
    assert read(YESNO, "1", today=date(2026, 11, 22)).value is True  # type: ignore[union-attr]
    assert read(YESNO, "2", today=date(2026, 11, 22)).value is False  # type: ignore[union-attr]
    assert read(YESNO, "3", today=date(2026, 11, 22)) is None


def _advice(channel: str, language: str = "ru") -> list[str]:
    from lifeline.conversations.host import start_flow

    identity = identity_get_or_create(
        channel=channel,
        address="7007007" if channel == "telegram" else f"advice-{language}",
        language=language,
    )
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel=channel, language=language
    )
    start_flow(conversation, "advice")
    return [r.text for r in conversation_input(conversation, "5")]  # "How to delete the chat"


def test_advice_on_deleting_the_chat_follows_the_channel() -> None:
    telegram = " ".join(_advice("telegram"))
    web = " ".join(_advice("web"))
    assert "Удалить чат" in telegram
    assert "Завершить чат на этом устройстве" not in telegram
    assert "Завершить чат на этом устройстве" in web
    assert "Удалить чат" not in web
    assert "Telegram" not in web


def test_the_faq_says_write_its_number_and_its_buttons_carry_numbers() -> None:
    from django.test import Client

    from lifeline.channels.botapi import keyboard

    rows = keyboard(["Что будет после сдачи в плен", "Закон «10 лет»"])["inline_keyboard"]
    assert [row[0]["text"] for row in rows] == [
        "1. Что будет после сдачи в плен",
        "2. Закон «10 лет»",
    ]
    assert [row[0]["callback_data"] for row in rows] == ["b:0", "b:1"]
    from tests.public.chat_client import send

    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    send(client, "/start")
    page = client.get("/chat/").content.decode()
    # The web chat shows its buttons numbered too (the number is not read out twice).
    assert 'class="choice"><span class="num" aria-hidden="true">1.</span> ' in page


def test_a_text_limited_to_an_unknown_channel_is_a_flow_error(tmp_path: object) -> None:
    from pathlib import Path

    from lifeline.conversations.engine.loader import FlowInvalid, load_flows

    folder = Path(str(tmp_path))
    (folder / "x.yaml").write_text(
        "spec_version: 1\nflow: x\nversion: 1\nstart: a\nnodes:\n  a:\n    say:\n"
        "      - only: viber\n        ru: 'а'\n        uk: 'а'\n        en: 'a'\n    end: true\n",
        encoding="utf-8",
    )
    with pytest.raises(FlowInvalid, match="unknown channel 'viber'"):
        load_flows(folder)


@pytest.mark.parametrize(
    ("seconds", "word"), [(60, "1 минуты"), (120, "2 минут"), (600, "10 минут")]
)
def test_the_size_refusal_uses_the_right_plural(seconds: int, word: str, settings: object) -> None:
    from lifeline.conversations.media import refusal

    settings.LIFELINE_VOICE_MAX_SECONDS = seconds  # type: ignore[attr-defined]
    identity = identity_get_or_create(channel="telegram", address=f"90{seconds}", language="ru")
    conversation = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel="telegram", language="ru"
    )
    (reply,) = refusal(conversation, "large")
    assert word in reply.text
