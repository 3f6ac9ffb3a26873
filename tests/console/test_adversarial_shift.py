"""What the eighth adversarial review found in the shift tools and media, each kept as a test:
/forget erases call backs and notes; a download that fails is refused without holding the chat;
no comment survives re-encoding; closing never buries an unread message; a closed conversation
stays closed; code words in a caption are not kept; a call-back number only for whoever handles
the conversation; a flood of waiting chats does not push an operator's own off his queue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from io import BytesIO
from typing import Any

import pytest
from aiohttp import web
from django.test import Client
from django.utils import timezone
from PIL import Image, PngImagePlugin

from lifeline.channels import inbox, outbox, telegram
from lifeline.channels.models import OutboundMessage
from lifeline.channels.telegram import TelegramSender
from lifeline.contacts.models import Contact
from lifeline.conversations import media, services
from lifeline.conversations.host import conversation_input, forget_contact
from lifeline.conversations.models import (
    Attachment,
    Conversation,
    ConversationStatus,
    MediaStatus,
    Message,
    Note,
)
from lifeline.core.models import Role
from lifeline.phone import callbacks
from lifeline.phone.models import CallbackRequest, CallbackStatus
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.test_telegram import SECRET, webhook
from tests.channels.test_telegram_media import jpeg, photo_update
from tests.console.test_shift_tools import console, handed_off, person_writes
from tests.factories import create_user, say, telegram_conversation

# --- 1. /forget leaves the call-back number and safe time (still OPEN) and the notes ---------


@pytest.mark.django_db
def test_forget_erases_call_back_number_and_conversation_notes() -> None:
    operator = create_user(Role.OPERATOR)
    item = handed_off("8101")
    services.conversation_take(conversation=item, actor=operator)
    callbacks.callback_request(
        actor=operator, conversation=item, number="+7 912 345 67 89", safe_time="after 22:00"
    )
    services.note_add(
        conversation=item, actor=operator, text="He is in Avdiivka, wife Olga, +79123456789"
    )
    forget_contact(item)  # what /forget + confirmation runs
    assert not Message.objects.filter(conversation=item).exists()  # messages are gone ...
    request = CallbackRequest.objects.get()
    # ... but the number he gave, and when it is safe to call him, stay, and an operator is
    # still invited to call him:
    assert request.status != CallbackStatus.OPEN, "call back still offered after /forget"
    assert not request.number, "his phone number survives /forget"
    assert not Note.objects.filter(conversation=item).exists(), "notes survive /forget"


# --- 2. A download error (file_path expired: 404) is 'unexpected': the chat is blocked --------


class ExpiredFileTelegram(FakeTelegram):
    """getFile answers, the download says 404 (Telegram's file_path lasts one hour)."""

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(status=404)


@pytest.fixture
def expired(settings: Any) -> Iterator[FakeTelegram]:
    server = ExpiredFileTelegram().start()
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.LIFELINE_TELEGRAM_API_BASE = server.base
    settings.LIFELINE_TELEGRAM_TIMEOUT = 2.0
    old = outbox.PER_CHAT_INTERVAL
    outbox.PER_CHAT_INTERVAL = outbox.timedelta(seconds=0)
    yield server
    outbox.PER_CHAT_INTERVAL = old
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_a_file_that_cannot_be_downloaded_is_refused_and_does_not_hold_the_chat(
    expired: FakeTelegram,
) -> None:
    original = jpeg()
    expired.files["P9"] = original
    assert webhook(Client(), photo_update(901, 8102, "P9", len(original))) == 200
    sender = TelegramSender()
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            inbox.process_all(limit=50)
            outbox.send_all({"telegram": sender}, limit=50)
            time.sleep(0.2)
    finally:
        sender.close()
    fetch = OutboundMessage.objects.get(kind="fetch")
    assert fetch.status == "sent"  # done with: the file was refused, not retried for long
    # The person's confirmation ("the photo is kept") waits behind the fetch row, which the
    # outbox retries for about 23 minutes (12 attempts, backoff to 300 s) before giving up ...
    assert expired.sent(), "nothing reached the chat: its outbox is held by the fetch row"
    # ... and even then the attachment stays 'being fetched' for ever.
    assert Attachment.objects.get().status == MediaStatus.REFUSED


# --- 3. Comments survive the 're-encoding that drops every metadata block' ---------------------


def test_a_jpeg_comment_does_not_survive_reencoding() -> None:
    buffer = BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "JPEG", comment=b"GPS 48.0159 37.8028 SpyPhone")
    assert b"48.0159" not in media.reencode_photo(buffer.getvalue())


def test_a_png_text_comment_does_not_survive_reencoding() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "GPS 48.0159 37.8028 SpyPhone")
    buffer = BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "PNG", pnginfo=info)
    assert b"48.0159" not in media.reencode_photo(buffer.getvalue())


# --- 4. Close while he writes: his last message is buried in a closed conversation -----------


@pytest.mark.django_db
def test_closing_does_not_bury_a_message_the_operator_never_saw() -> None:
    operator = create_user(Role.OPERATOR)
    item = handed_off("8104")
    services.conversation_take(conversation=item, actor=operator)
    client = console(operator)
    client.get(f"/console/conversations/{item.pk}/")  # he reads everything so far
    person_writes(item, "Wait! They are moving us tonight, answer please")  # arrives now
    response = client.post(f"/console/conversations/{item.pk}/", {"action": "close"})
    assert response.status_code == 400
    assert "He wrote again" in response.content.decode()
    item.refresh_from_db()
    in_queue = {r.conversation.pk for r in services.queue_rows(operator)}
    assert item.status != ConversationStatus.CLOSED or item.pk in in_queue, (
        "closed over an unread message: nobody will ever see it"
    )


# --- 5. A closed conversation is reopened by a stale page; unread survives the close ---------


@pytest.mark.django_db
def test_close_clears_the_unread_count() -> None:
    operator = create_user(Role.OPERATOR)
    item = handed_off("8105")
    services.conversation_take(conversation=item, actor=operator)
    person_writes(item, "hello?")
    with pytest.raises(ValueError, match="He wrote again"):
        services.conversation_close(conversation=item, actor=operator)
    item.refresh_from_db()
    services.mark_read(conversation=item, actor=operator)
    services.conversation_close(conversation=item, actor=operator)
    item.refresh_from_db()
    assert item.status == ConversationStatus.CLOSED
    assert item.unread == 0


@pytest.mark.django_db
def test_a_stale_reply_form_does_not_reopen_a_closed_conversation() -> None:
    operator = create_user(Role.OPERATOR)
    item = handed_off("8106")
    services.conversation_take(conversation=item, actor=operator)
    services.conversation_close(conversation=item, actor=operator)  # e.g. in another tab
    # He writes again: a new conversation starts for his chat.
    say(telegram_conversation_for(item), "/start")
    client = console(operator)
    client.post(f"/console/conversations/{item.pk}/", {"action": "reply", "text": "late"})
    item.refresh_from_db()
    open_ = Conversation.objects.filter(identity=item.identity).exclude(status="closed")
    assert item.status == ConversationStatus.CLOSED, (
        f"reopened as {item.status}; open conversations for one chat: {open_.count()}"
    )


def telegram_conversation_for(item: Conversation) -> Conversation:
    return Conversation.objects.create(
        contact=item.contact, identity=item.identity, channel=item.channel, language=item.language
    )


# --- 6. A caption typed where the bot waits for code words is kept in the transcript ----------


@pytest.mark.django_db
def test_code_words_in_a_photo_caption_are_not_kept_in_clear() -> None:
    words = "маркер слово сова мост лес луна"
    item = telegram_conversation("8107")
    say(item, "/start", "Я уже подавал заявку, я на фронте", "ВЧ-000333")
    # The bot now asks for his code words; he sends them as a photo's caption.
    stored = telegram.store_update(photo_update(902, 8107, "PX", 5000, caption=words))
    assert stored is not None
    inbox.process_all(limit=10)
    texts = [m.text for m in Message.objects.filter(conversation__identity=item.identity)]
    assert words not in texts, "the code words are stored in the transcript"


# --- 7. Any operator reveals any call-back number, even for a conversation he may not open ----


@pytest.mark.django_db
def test_a_call_back_number_is_revealed_only_to_whoever_may_open_its_conversation() -> None:
    handler, other = create_user(Role.OPERATOR), create_user(Role.OPERATOR)
    item = handed_off("8108")
    services.conversation_take(conversation=item, actor=handler)
    request = callbacks.callback_request(
        actor=handler, conversation=item, number="+7 912 345 67 89", safe_time="after 22:00"
    )
    client = console(other)
    assert client.get(f"/console/conversations/{item.pk}/").status_code == 403
    page = client.post(
        "/console/calls/missed/", {"action": "show", "callback": str(request.pk)}
    ).content.decode()
    assert "+79123456789" not in page, "another operator read the soldier's number"


@pytest.mark.django_db
def test_own_conversation_with_unread_survives_a_flood_of_waiting_ones() -> None:
    operator = create_user(Role.OPERATOR)
    mine = handed_off("8301")
    services.conversation_take(conversation=mine, actor=operator)
    services.conversation_reply(conversation=mine, actor=operator, text="We are here.")
    conversation_input(mine, "They found my phone, hurry")  # unread 1
    template = Conversation.objects.get(pk=mine.pk)
    now = timezone.now()
    flood = []
    for i in range(250):
        contact = Contact.objects.create()
        flood.append(
            Conversation(
                contact=contact,
                channel="telegram",
                status=ConversationStatus.WAITING,
                waiting_since=now - timedelta(minutes=5, seconds=i),
            )
        )
    Conversation.objects.bulk_create(flood)
    rows = services.queue_rows(operator)
    assert mine.pk in {r.conversation.pk for r in rows}, "his own conversation left his queue"
    assert template.unread == 1
