"""A chat's one message a second is the chat's, not a conversation's, and it paces messages
only: answering a button press and marking the pressed button do not delay the next question.
(Found by the adversarial review of issue 13: an operator's closing reply still queued and the
bot's greeting of the new conversation went out 36 ms apart to one chat; a button press waited
two paced seconds for its next question.)"""

from __future__ import annotations

import time

import pytest

from lifeline.channels import inbox, outbox
from lifeline.channels.models import OutboundMessage
from lifeline.channels.telegram import TelegramSender, store_update
from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations.models import Conversation, ConversationStatus
from lifeline.core.channels import Channel
from tests.channels.fake_telegram import FakeTelegram, callback, update

pytestmark = pytest.mark.django_db(transaction=True)


def _drain(sender: TelegramSender, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while OutboundMessage.objects.filter(status="pending").exists():
        assert time.monotonic() < deadline, "the outbox did not drain"
        outbox.send_all({"telegram": sender})
        time.sleep(0.02)


def test_two_conversations_of_one_chat_share_its_second_and_keep_their_order(
    fake: FakeTelegram,
) -> None:
    identity = identity_get_or_create(channel=Channel.TELEGRAM, address="7301")
    closed = Conversation.objects.create(
        contact=identity.contact,
        identity=identity,
        channel=Channel.TELEGRAM,
        status=ConversationStatus.CLOSED,
    )
    OutboundMessage.objects.create(
        conversation=closed, channel=Channel.TELEGRAM, text="Удачи. Мы закрываем диалог.", seq=1
    )
    new = Conversation.objects.create(
        contact=identity.contact, identity=identity, channel=Channel.TELEGRAM
    )
    OutboundMessage.objects.create(
        conversation=new, channel=Channel.TELEGRAM, text="Здравствуйте! Кто вы?", seq=1
    )
    other = identity_get_or_create(channel=Channel.TELEGRAM, address="7302")
    elsewhere = Conversation.objects.create(
        contact=other.contact, identity=other, channel=Channel.TELEGRAM
    )
    OutboundMessage.objects.create(
        conversation=elsewhere, channel=Channel.TELEGRAM, text="Другому человеку", seq=1
    )
    sender = TelegramSender()
    try:
        _drain(sender)
    finally:
        sender.close()
    to_chat = [c for c in fake.sent() if str(c.data.get("chat_id")) == "7301"]
    assert [c.data["text"] for c in to_chat] == [
        "Удачи. Мы закрываем диалог.",
        "Здравствуйте! Кто вы?",
    ]
    assert to_chat[1].at - to_chat[0].at >= 1.0
    # Another person's message was not held up by this chat's second.
    to_other = [c for c in fake.sent() if str(c.data.get("chat_id")) == "7302"]
    assert to_other
    assert to_other[0].at - to_chat[0].at < 0.9


def test_the_next_question_follows_a_button_press_without_waiting_paced_seconds(
    fake: FakeTelegram,
) -> None:
    chat = 7501
    sender = TelegramSender()
    try:
        store_update(update(600_001, chat, "/start"))
        inbox.process_all()
        _drain(sender)
        question = fake.sent()[-1]
        assert question.data.get("reply_markup"), "the first question has buttons"
        time.sleep(1.1)  # he reads, then presses
        before = len(fake.calls)
        pressed = time.monotonic()
        store_update(
            callback(
                600_002,
                chat,
                "b:0",
                int(question.data.get("message_id", 1001)),
                str(question.data.get("text", "")),
            )
        )
        inbox.process_all()
        _drain(sender)
    finally:
        sender.close()
    after = [c for c in fake.calls[before:] if c.method != "getMe"]
    assert [c.method for c in after][:2] == ["answerCallbackQuery", "editMessageText"]
    questions = [c for c in after if c.method == "sendMessage"]
    assert questions, "no next question"
    # Three passes of the sender, not two paced seconds.
    assert questions[0].at - pressed < 1.0
