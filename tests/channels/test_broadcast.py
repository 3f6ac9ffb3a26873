"""Channel posts: the press office proposes, a supervisor who did not write it approves, the
worker sends it to each language's channel through the fake Bot API once; edits and deletions
reach the channel; the picture leaves re-encoded; rate limits and failures behave."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.audit.models import AuditEntry
from lifeline.channels import broadcast
from lifeline.channels.models import (
    ChannelPost,
    OutboundStatus,
    PostAction,
    PostDelivery,
    PostStatus,
    ProposalState,
)
from lifeline.channels.telegram import TelegramSender
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.test_telegram_media import SPY, jpeg
from tests.factories import Staff, create_user

pytestmark = pytest.mark.django_db


def _send_everything(sender: TelegramSender, rounds: int = 20) -> None:
    """Run the sending pass until nothing is due (waiting out the per-channel gap)."""
    for _ in range(rounds):
        broadcast.send_all(sender)
        due = PostDelivery.objects.filter(status=OutboundStatus.PENDING)
        if not due.exists():
            return
        PostDelivery.objects.filter(sent_at__isnull=False).update(
            sent_at=timezone.now() - broadcast.POST_GAP
        )
        due.update(next_attempt_at=timezone.now())


def _approved(staff: Staff, texts: dict[str, str], image: bytes | None = None) -> ChannelPost:
    post = broadcast.post_create(actor=staff.press, texts=texts, image=image)
    broadcast.post_submit(actor=staff.press, post=post)
    return broadcast.post_approve(actor=staff.supervisor, post=post)


@pytest.fixture
def sender(fake: FakeTelegram) -> Any:
    sender = TelegramSender()
    yield sender
    sender.close()


def test_a_post_reaches_each_languages_channel_once_then_edit_and_delete_reach_it(
    fake: FakeTelegram, sender: TelegramSender
) -> None:
    staff = Staff()
    post = _approved(staff, {"ru": "Хочу жить: новости", "uk": "Хочу жити: новини"})
    assert post.status == PostStatus.SCHEDULED
    _send_everything(sender)
    _send_everything(sender)  # a second pass sends nothing again
    sent = fake.sent("sendMessage")
    assert sorted((c.data["chat_id"], c.data["text"]) for c in sent) == [
        ("@lifeline_test_ru", "Хочу жить: новости"),
        ("@lifeline_test_uk", "Хочу жити: новини"),
    ]
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED

    # An edit: proposed by the press office, approved, sent as an edit of the same message.
    broadcast.post_propose_edit(actor=staff.press, post=post)
    broadcast.post_save(
        actor=staff.press,
        post=post,
        texts={"ru": "Хочу жить: новости (исправлено)", "uk": "Хочу жити: новини"},
    )
    broadcast.post_submit(actor=staff.press, post=post)
    broadcast.post_approve(actor=staff.supervisor, post=post)
    _send_everything(sender)
    edits = fake.sent("editMessageText")
    ru_id = PostDelivery.objects.get(post=post, language="ru", action=PostAction.POST).message_id
    assert [(c.data["chat_id"], c.data["message_id"], c.data["text"]) for c in edits] == [
        ("@lifeline_test_ru", ru_id, "Хочу жить: новости (исправлено)")
    ]  # the Ukrainian text did not change: no edit sent for it
    assert len(fake.sent("sendMessage")) == 2

    # A supervisor deletes it: both messages are deleted, once.
    broadcast.post_delete(actor=staff.supervisor, post=post)
    _send_everything(sender)
    deleted = sorted((c.data["chat_id"], c.data["message_id"]) for c in fake.sent("deleteMessage"))
    assert len(deleted) == 2
    assert {chat for chat, _id in deleted} == {"@lifeline_test_ru", "@lifeline_test_uk"}
    post.refresh_from_db()
    assert post.status == PostStatus.DELETED
    actions = list(
        AuditEntry.objects.filter(object_type="channel_post", object_id=str(post.pk))
        .order_by("seq")
        .values_list("action", "actor__username")
    )
    assert actions == [
        ("post.drafted", staff.press.username),
        ("post.submitted", staff.press.username),
        ("post.approved", staff.supervisor.username),
        ("post.edit_started", staff.press.username),
        ("post.changed", staff.press.username),
        ("post.submitted", staff.press.username),
        ("post.approved", staff.supervisor.username),
        ("post.deleted", staff.supervisor.username),
    ]


def test_the_picture_leaves_re_encoded_and_its_caption_is_edited(
    fake: FakeTelegram, sender: TelegramSender
) -> None:
    staff = Staff()
    post = _approved(staff, {"en": "Caption"}, image=jpeg())
    _send_everything(sender)
    photos = fake.sent("sendPhoto")
    assert len(photos) == 1
    photo = photos[0].data["photo"]
    assert isinstance(photo, bytes)
    assert photo.startswith(b"\xff\xd8")
    assert b"SpyPhone" not in photo
    assert b"GPS" not in photo
    assert SPY not in photo
    assert b"<script>" not in photo
    assert photos[0].data["chat_id"] == "-1001"
    assert photos[0].data["caption"] == "Caption"
    broadcast.post_propose_edit(actor=staff.press, post=post)
    broadcast.post_save(actor=staff.press, post=post, texts={"en": "New caption"})
    broadcast.post_submit(actor=staff.press, post=post)
    broadcast.post_approve(actor=staff.supervisor, post=post)
    _send_everything(sender)
    assert [c.data["caption"] for c in fake.sent("editMessageCaption")] == ["New caption"]


def test_nobody_approves_their_own_post_and_press_cannot_approve_or_delete() -> None:
    staff = Staff()
    post = broadcast.post_create(actor=staff.supervisor, texts={"ru": "Текст"})
    broadcast.post_submit(actor=staff.supervisor, post=post)
    with pytest.raises(broadcast.PostError):
        broadcast.post_approve(actor=staff.supervisor, post=post)
    with pytest.raises(PermissionDenied):
        broadcast.post_approve(actor=staff.press, post=post)
    with pytest.raises(PermissionDenied):
        broadcast.post_delete(actor=staff.press, post=post)
    for role in ("operator", "verifier", "liaison", "admin"):
        with pytest.raises(PermissionDenied):
            broadcast.post_create(actor=create_user(role), texts={"ru": "x"})
    other = create_user("supervisor")
    broadcast.post_approve(actor=other, post=post)
    assert PostDelivery.objects.filter(post=post).count() == 1


def test_a_post_changed_after_submission_needs_a_new_approval() -> None:
    staff = Staff()
    post = broadcast.post_create(actor=staff.press, texts={"ru": "Один"})
    broadcast.post_submit(actor=staff.press, post=post)
    with pytest.raises(broadcast.PostError):  # waiting for approval: it cannot change
        broadcast.post_save(actor=staff.press, post=post, texts={"ru": "Другой"})
    broadcast.post_withdraw(actor=staff.press, post=post)
    broadcast.post_save(actor=staff.press, post=post, texts={"ru": "Другой"})
    with pytest.raises(broadcast.PostError):  # not submitted again: nothing to approve
        broadcast.post_approve(actor=staff.supervisor, post=post)
    assert not PostDelivery.objects.exists()


def test_bad_posts_are_refused_with_a_reason() -> None:
    staff = Staff()
    with pytest.raises(broadcast.PostError):
        broadcast.post_create(actor=staff.press, texts={"ru": "  \x00 "})
    with pytest.raises(broadcast.PostError):  # a caption under a picture: 1,024 at most
        broadcast.post_create(actor=staff.press, texts={"ru": "я" * 1025}, image=jpeg())
    with pytest.raises(broadcast.PostError):
        broadcast.post_create(actor=staff.press, texts={"ru": "x"}, image=b"GIF89a not really")
    broadcast.post_create(actor=staff.press, texts={"ru": "я" * 4096})


def test_no_channel_for_the_posts_languages_is_said_plainly(settings: SettingsWrapper) -> None:
    settings.LIFELINE_TELEGRAM_CHANNELS = {"ru": "@only_ru", "uk": "not a channel name!"}
    with pytest.raises(broadcast.PostError, match="LIFELINE_TELEGRAM_CHANNELS"):
        broadcast.post_create(actor=Staff().press, texts={"uk": "Текст"})
    assert broadcast.targets() == {"ru": "@only_ru"}


def test_a_scheduled_post_waits_for_its_time_and_can_be_cancelled(
    fake: FakeTelegram, sender: TelegramSender
) -> None:
    staff = Staff()
    later = timezone.now() + timedelta(hours=2)
    post = broadcast.post_create(actor=staff.press, texts={"ru": "Позже"}, publish_at=later)
    broadcast.post_submit(actor=staff.press, post=post)
    broadcast.post_approve(actor=staff.supervisor, post=post)
    assert broadcast.send_all(sender) == 0
    assert fake.sent("sendMessage") == []
    broadcast.post_delete(actor=staff.supervisor, post=post)
    PostDelivery.objects.update(next_attempt_at=timezone.now())
    assert broadcast.send_all(sender) == 0
    assert fake.sent("sendMessage") == []
    assert fake.sent("deleteMessage") == []
    assert set(PostDelivery.objects.values_list("status", flat=True)) == {OutboundStatus.DISCARDED}


def test_one_channel_gets_at_most_one_message_per_gap(
    fake: FakeTelegram, sender: TelegramSender
) -> None:
    staff = Staff()
    for n in range(3):
        _approved(staff, {"ru": f"Пост {n}"})
    assert broadcast.send_all(sender) == 1  # the next two wait for the channel's gap
    assert len(fake.sent("sendMessage")) == 1


def test_a_refused_send_is_failed_shown_and_retried_by_a_supervisor(
    fake: FakeTelegram, sender: TelegramSender
) -> None:
    staff = Staff()
    fake.errors_next = [403]  # the bot is not an admin of the channel
    post = _approved(staff, {"ru": "Текст"})
    broadcast.send_all(sender)
    delivery = PostDelivery.objects.get(post=post)
    assert delivery.status == OutboundStatus.FAILED
    assert "admin" in delivery.error
    assert broadcast.post_retry(actor=staff.supervisor, post=post) == 1
    _send_everything(sender)
    delivery.refresh_from_db()
    assert delivery.status == OutboundStatus.SENT
    assert len(fake.sent("sendMessage")) == 1
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED


def test_a_429_pauses_and_the_post_is_sent_once_later(
    fake: FakeTelegram, sender: TelegramSender
) -> None:
    staff = Staff()
    fake.errors_next = [429, 500]
    post = _approved(staff, {"ru": "Текст"})
    broadcast.send_all(sender)
    delivery = PostDelivery.objects.get(post=post)
    assert delivery.status == OutboundStatus.PENDING
    assert delivery.error == "429 retry_after"
    from lifeline.channels.models import SendBudget

    SendBudget.objects.update(paused_until=None)
    _send_everything(sender)
    delivery.refresh_from_db()
    assert delivery.status == OutboundStatus.SENT
    assert delivery.attempts == 3
    assert len(fake.sent("sendMessage")) == 1


def test_drafts_are_encrypted_at_rest() -> None:
    from django.db import connection

    post = broadcast.post_create(actor=Staff().press, texts={"ru": "Секретный черновик"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT proposed FROM channels_channelpost WHERE id = %s", [post.pk.hex])
        row = cursor.fetchone()
    if row is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT proposed FROM channels_channelpost")
            row = cursor.fetchone()
    assert row is not None
    assert str(row[0]).startswith("lf1:")
    assert ChannelPost.objects.get().proposal == ProposalState.EDITING


def test_the_console_screens_refuse_bad_input_with_a_reason() -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from tests.factories import login_verified

    staff = Staff()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(client, staff.press)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"text_ru": ""}, "at least one language"),
        ({"text_ru": "x", "publish_at": "yesterday"}, "valid date"),
        ({"text_ru": "x", "publish_at": "9999-99-99T99:99"}, "valid date"),
        ({"text_ru": "x", "image": SimpleUploadedFile("a.jpg", b"\x00" * 100)}, "not a picture"),
        ({"text_ru": "я" * 5000}, "4096"),
    ]
    for data, said in cases:
        response = client.post("/console/posts/", data)
        assert response.status_code == 400, data
        assert said in response.content.decode(), (data, said)
    assert not ChannelPost.objects.exists()
    response = client.post("/console/posts/", {"text_uk": "Новина", "publish_at": ""})
    assert response.status_code == 302
    post = ChannelPost.objects.get()
    url = f"/console/posts/{post.pk}/"
    for data in ({"action": "\x00"}, {"action": "approve"}, {"action": "retry"}):
        response = client.post(url, data)
        assert response.status_code in (400, 403), (data, response.status_code)
    assert client.get(f"/console/posts/{post.pk}/image/").status_code == 404  # no picture
    assert client.get("/console/posts/00000000-0000-0000-0000-000000000000/").status_code == 404
