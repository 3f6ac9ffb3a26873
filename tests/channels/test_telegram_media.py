"""Photos and voice messages from Telegram, end to end through aiogram and the fake Bot API:
fetched by the sender, re-encoded (no EXIF, nothing appended), stored encrypted, shown to the
handling operator and to the verifier of his application, each opening audited; other files and
files too large get a polite no in the person's language."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from PIL import Image
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.audit.models import AuditEntry
from lifeline.channels import outbox
from lifeline.channels.telegram import TelegramSender
from lifeline.conversations import media
from lifeline.conversations.models import Attachment, Conversation, MediaStatus, Message
from lifeline.core.models import Role
from tests.channels.fake_telegram import FakeTelegram, update
from tests.channels.test_telegram import SECRET, drain, webhook
from tests.factories import create_case, create_user, login_verified

pytestmark = pytest.mark.django_db(transaction=True)

SPY = b"SpyPhone-9000 GPS 48.0159 37.8028"


def jpeg(size: tuple[int, int] = (640, 480), *, exif: bool = True) -> bytes:
    """A JPEG with a camera model and a GPS position in its EXIF, and bytes appended after it
    (as a polyglot file would carry)."""
    image = Image.new("RGB", size, (120, 30, 30))
    buffer = BytesIO()
    data = Image.Exif()
    data[0x010F] = "SpyPhone-9000"  # Make
    data[0x0110] = "GPS 48.0159 37.8028"  # Model
    data[0x0112] = 6  # Orientation: rotated
    image.save(buffer, format="JPEG", exif=data.tobytes() if exif else b"")
    return buffer.getvalue() + b"<script>alert(1)</script>" + SPY


OGG = b"OggS\x00\x02" + b"\x00" * 200


@pytest.fixture
def fake(settings: SettingsWrapper) -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.LIFELINE_TELEGRAM_API_BASE = server.base
    settings.LIFELINE_TELEGRAM_TIMEOUT = 2.0
    outbox.PER_CHAT_INTERVAL = outbox.timedelta(seconds=0)
    yield server
    server.stop()


def photo_update(update_id: int, user: int, file_id: str, size: int, **extra: Any) -> dict:
    sizes = [
        {
            "file_id": f"{file_id}-small",
            "file_unique_id": "s",
            "width": 90,
            "height": 67,
            "file_size": 900,
        },
        {"file_id": file_id, "file_unique_id": "b", "width": 640, "height": 480, "file_size": size},
    ]
    return update(update_id, user, None, photo=sizes, **extra)


def run(fake: FakeTelegram, *updates: dict) -> None:
    client = Client()
    for data in updates:
        assert webhook(client, data) == 200
    sender = TelegramSender()
    try:
        drain(sender)
    finally:
        sender.close()


def test_a_photo_is_fetched_reencoded_without_metadata_and_stored_encrypted(
    fake: FakeTelegram,
) -> None:
    original = jpeg()
    fake.files["P1"] = original
    run(fake, photo_update(1, 7101, "P1", len(original), caption="мой военный билет"))
    attachment = Attachment.objects.get()
    assert attachment.status == MediaStatus.READY
    assert attachment.message.text == "мой военный билет"
    stored = attachment.content or b""
    assert stored.startswith(b"\xff\xd8")
    assert stored != original
    assert b"Exif" not in stored
    assert b"SpyPhone" not in stored
    assert b"<script>" not in stored
    with Image.open(BytesIO(stored)) as again:
        assert not again.getexif()
        assert again.size == (480, 640)  # turned upright by its orientation tag, then dropped
    with connection.cursor() as cursor:
        cursor.execute("SELECT content FROM conversations_attachment")
        (raw,) = cursor.fetchone()
    raw_text = str(bytes(raw) if isinstance(raw, memoryview) else raw)
    assert "/9j/" not in raw_text
    assert "\\xff\\xd8" not in raw_text
    # He was told, in his language, that it is kept; the larger size was the one fetched.
    assert "фото" in fake.sent()[-1].data["text"].lower()
    assert [c.data["file_id"] for c in fake.sent("getFile")] == ["P1"]


def test_a_voice_message_is_kept_and_playable_by_the_handling_operator(
    fake: FakeTelegram,
) -> None:
    fake.files["V1"] = OGG
    run(
        fake,
        update(2, 7102, "/start", language="en"),
        update(3, 7102, "operator", language="en"),
        update(
            4,
            7102,
            None,
            language="en",
            voice={"file_id": "V1", "file_unique_id": "v", "duration": 12, "file_size": len(OGG)},
        ),
    )
    attachment = Attachment.objects.get()
    assert attachment.status == MediaStatus.READY
    assert attachment.content == OGG
    assert "voice message is kept" in fake.sent()[-1].data["text"]
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(status="waiting")
    operator = create_user(Role.OPERATOR)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, operator)
    client.post(f"/console/conversations/{conversation.pk}/", {"action": "take"})
    page = client.get(f"/console/conversations/{conversation.pk}/").content.decode()
    assert f'<audio controls preload="none" src="/console/media/{attachment.pk}/"' in page
    response = client.get(f"/console/media/{attachment.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/ogg"
    assert "no-store" in response["Cache-Control"]
    assert response.content == OGG
    assert AuditEntry.objects.filter(
        action="conversation.media_read", object_id=str(attachment.pk), actor=operator
    ).exists()
    # Another operator, who does not have the conversation, may not open it.
    other = Client()
    login_verified(other, create_user(Role.OPERATOR))
    assert other.get(f"/console/media/{attachment.pk}/").status_code == 403


def test_the_verifier_sees_the_photo_of_the_application_he_checks(fake: FakeTelegram) -> None:
    original = jpeg()
    fake.files["P2"] = original
    run(fake, photo_update(5, 7103, "P2", len(original)))
    attachment = Attachment.objects.get()
    conversation = attachment.message.conversation
    verifier = create_user(Role.VERIFIER)
    case = create_case()
    case.requester = conversation.contact
    case.save()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, verifier)
    page = client.get(f"/console/cases/{case.pk}/").content.decode()
    assert f'src="/console/media/{attachment.pk}/"' in page
    assert client.get(f"/console/media/{attachment.pk}/").status_code == 200
    # Once the application is decided, the verifier no longer reads his messages.
    from lifeline.cases.models import Case

    Case.objects.filter(pk=case.pk).update(status="verified")
    assert client.get(f"/console/media/{attachment.pk}/").status_code == 403


def test_a_file_that_is_not_a_picture_is_refused_and_nothing_is_kept(fake: FakeTelegram) -> None:
    hostile = b"<html><script>alert(1)</script></html>" + SPY
    fake.files["P3"] = hostile
    run(fake, photo_update(6, 7104, "P3", len(hostile)))
    attachment = Attachment.objects.get()
    assert attachment.status == MediaStatus.REFUSED
    assert attachment.content is None
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, create_user(Role.SUPERVISOR))
    assert client.get(f"/console/media/{attachment.pk}/").status_code == 404
    page = client.get(f"/console/conversations/{attachment.message.conversation_id}/")
    assert "could not be read as a photo or voice message" in page.content.decode()


def test_a_file_telegram_will_not_give_is_marked_and_the_worker_goes_on(
    fake: FakeTelegram,
) -> None:
    run(fake, photo_update(7, 7105, "GONE", 5000), update(8, 7105, "/start"))
    assert Attachment.objects.get().status == MediaStatus.REFUSED
    assert "Кто вы?" in fake.sent()[-1].data["text"]


def test_too_large_and_other_files_get_a_polite_no_in_his_language(
    fake: FakeTelegram, settings: SettingsWrapper
) -> None:
    settings.LIFELINE_MEDIA_MAX_BYTES = 500
    run(
        fake,
        photo_update(
            9,
            7106,
            "BIG",
            10_000,
        ),
        update(
            10,
            7107,
            None,
            language="uk",
            voice={"file_id": "LONG", "file_unique_id": "l", "duration": 3600, "file_size": 100},
        ),
        update(
            11,
            7108,
            None,
            language="en",
            video={
                "file_id": "VID",
                "file_unique_id": "x",
                "width": 1,
                "height": 1,
                "duration": 1,
            },
        ),
    )
    texts = {c.data["chat_id"]: c.data["text"] for c in fake.sent()}
    assert "слишком" in texts["7106"]  # Russian: too large
    assert "завеликий" in texts["7107"]  # Ukrainian
    assert "only photos and voice messages" in texts["7108"]
    assert not fake.sent("getFile")
    assert not Attachment.objects.exists()
    assert not Message.objects.filter(direction="in").exists()


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    buffer = BytesIO()
    Image.new("1", (9000, 9000)).save(buffer, format="PNG")
    with pytest.raises(media.MediaRefused):
        media.reencode_photo(buffer.getvalue())
    gif = BytesIO()
    Image.new("RGB", (10, 10)).save(gif, format="GIF")
    with pytest.raises(media.MediaRefused):
        media.reencode_photo(gif.getvalue())
