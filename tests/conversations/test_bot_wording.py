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
