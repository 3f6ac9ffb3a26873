"""Tenth adversarial review: channel posts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from lifeline.channels import broadcast
from lifeline.channels.models import (
    ChannelPost,
    OutboundStatus,
    PostDelivery,
    PostStatus,
)
from tests.channels.test_telegram_media import jpeg
from tests.factories import Staff, login_verified

pytestmark = pytest.mark.django_db


class Channel:
    """A recording channel: what a subscriber sees, per target and message id."""

    def __init__(self) -> None:
        self.messages: dict[tuple[str, str], str] = {}
        self.next_id = 100
        self.during: Callable[[], object] | None = None  # runs while the HTTP call is in flight

    def deliver_post(self, action, target, text, image, message_id):  # noqa: ANN001, ANN201
        if self.during is not None:
            hook, self.during = self.during, None
            hook()
        if action == "post":
            self.next_id += 1
            self.messages[(target, str(self.next_id))] = text
            return str(self.next_id)
        if action == "edit":
            if (target, message_id) not in self.messages:
                raise broadcast.outbox.PermanentError("bad request: message to edit not found")
            self.messages[(target, message_id)] = text
            return message_id
        self.messages.pop((target, message_id), None)
        return message_id


def _drain(channel: Channel) -> None:
    for _ in range(30):
        broadcast.send_all(channel)
        due = PostDelivery.objects.filter(status=OutboundStatus.PENDING)
        if not due.exists():
            return
        PostDelivery.objects.filter(sent_at__isnull=False).update(
            sent_at=timezone.now() - broadcast.POST_GAP
        )
        due.update(next_attempt_at=timezone.now())


def _approved(staff: Staff, texts: dict[str, str]) -> ChannelPost:
    post = broadcast.post_create(actor=staff.press, texts=texts)
    broadcast.post_submit(actor=staff.press, post=post)
    return broadcast.post_approve(actor=staff.supervisor, post=post)


def test_approval_is_bound_to_the_texts_and_picture_the_supervisor_reviewed() -> None:
    staff = Staff()
    press = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(press, staff.press)
    boss = Client(HTTP_ACCEPT_LANGUAGE="en")
    login_verified(boss, staff.supervisor)
    post = broadcast.post_create(
        actor=staff.press, texts={"ru": "Безобидная новость"}, image=jpeg()
    )
    broadcast.post_submit(actor=staff.press, post=post)
    url = f"/console/posts/{post.pk}/"
    review = boss.get(url).content.decode()
    assert "Безобидная новость" in review
    assert 'id="approve"' in review
    reviewed_image = ChannelPost.objects.get().image
    # The writer swaps text and picture while the supervisor reads.
    assert press.post(url, {"action": "withdraw"}).status_code == 302
    other = SimpleUploadedFile("b.png", _png(), content_type="image/png")
    response = press.post(
        url, {"action": "submit", "text_ru": "Другой текст", "image": other, "publish_at": ""}
    )
    assert response.status_code == 302
    boss.post(url, {"action": "approve"})
    post.refresh_from_db()
    assert post.status == PostStatus.DRAFT, (
        f"approved unseen content: texts={post.texts} "
        f"picture changed={post.image != reviewed_image}"
    )


def _png() -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (50, 50), (0, 0, 255)).save(out, format="PNG")
    return out.getvalue()


def test_a_delete_while_the_first_send_is_in_flight_takes_the_message_off_the_channel() -> None:
    """post_delete reads the send as still pending (the worker has not committed), so it only
    cancels pending rows; the worker then records it sent. No deleteMessage is ever queued and
    the message stays on the channel of a post the console shows as deleted."""
    staff = Staff()
    post = _approved(staff, {"ru": "Новость"})
    channel = Channel()
    channel.during = lambda: broadcast.post_delete(actor=staff.supervisor2, post=post)
    _drain(channel)
    post.refresh_from_db()
    assert post.status == PostStatus.DELETED
    assert channel.messages == {}, f"still on the channel: {channel.messages}"


def test_an_edit_approved_while_the_first_send_is_in_flight_reaches_the_channel() -> None:
    staff = Staff()
    post = _approved(staff, {"ru": "Новость с ошибкой"})
    channel = Channel()

    def edit() -> None:
        broadcast.post_propose_edit(actor=staff.press, post=post)
        broadcast.post_save(actor=staff.press, post=post, texts={"ru": "Новость исправлена"})
        broadcast.post_submit(actor=staff.press, post=post)
        broadcast.post_approve(actor=staff.supervisor2, post=post)

    channel.during = edit
    _drain(channel)
    post.refresh_from_db()
    assert post.texts == {"ru": "Новость исправлена"}
    assert list(channel.messages.values()) == ["Новость исправлена"], channel.messages


def test_a_language_taken_off_and_put_back_is_posted_again() -> None:
    staff = Staff()
    post = _approved(staff, {"ru": "Новость", "uk": "Новина"})
    channel = Channel()
    _drain(channel)

    def change(texts: dict[str, str], approver) -> None:  # noqa: ANN001
        broadcast.post_propose_edit(actor=staff.press, post=post)
        broadcast.post_save(actor=staff.press, post=post, texts=texts)
        broadcast.post_submit(actor=staff.press, post=post)
        broadcast.post_approve(actor=approver, post=post)
        _drain(channel)

    change({"ru": "Новость"}, staff.supervisor)  # Ukrainian taken off its channel
    assert sorted(channel.messages.values()) == ["Новость"]
    change({"ru": "Новость", "uk": "Новина знову"}, staff.supervisor2)  # and put back
    failed = list(
        PostDelivery.objects.filter(status=OutboundStatus.FAILED).values_list("action", "error")
    )
    assert sorted(channel.messages.values()) == ["Новина знову", "Новость"], (
        channel.messages,
        failed,
    )


def test_retry_after_an_edit_re_sent_a_failed_language_posts_it_twice_and_delete_leaves_one() -> (
    None
):
    """The Ukrainian send failed (the bot was not yet an admin). An edit is approved: a failed
    send is not "sent", so approval queues a new Ukrainian post. The failed row is still shown
    with its retry button; a supervisor presses it: a second copy goes out, and deleting the post
    deletes only one of them."""
    staff = Staff()
    post = _approved(staff, {"ru": "Новость", "uk": "Новина"})
    channel = Channel()
    real = channel.deliver_post

    def refuse_uk_once(action, target, text, image, message_id):  # noqa: ANN001, ANN202
        if target == "@lifeline_test_uk" and not getattr(channel, "refused", False):
            channel.refused = True
            raise broadcast.outbox.PermanentError("forbidden (is the bot an admin of the channel?)")
        return real(action, target, text, image, message_id)

    channel.deliver_post = refuse_uk_once  # type: ignore[method-assign]
    _drain(channel)
    assert PostDelivery.objects.filter(status=OutboundStatus.FAILED).count() == 1
    broadcast.post_propose_edit(actor=staff.press, post=post)
    broadcast.post_save(actor=staff.press, post=post, texts={"ru": "Новость!", "uk": "Новина"})
    broadcast.post_submit(actor=staff.press, post=post)
    broadcast.post_approve(actor=staff.supervisor2, post=post)
    _drain(channel)
    broadcast.post_retry(actor=staff.supervisor, post=post)  # the button is still on the screen
    _drain(channel)
    uk = [t for (target, _id), t in channel.messages.items() if target == "@lifeline_test_uk"]
    assert len(uk) == 1, f"Ukrainian channel shows {len(uk)} copies"


def test_delete_reaches_every_copy() -> None:
    staff = Staff()
    post = _approved(staff, {"uk": "Новина"})
    PostDelivery.objects.filter(post=post).update(status=OutboundStatus.FAILED, error="x")
    channel = Channel()
    # failed first send, then an edit re-queues a post, then retry re-sends the failed one
    broadcast.post_propose_edit(actor=staff.press, post=post)
    broadcast.post_save(actor=staff.press, post=post, texts={"uk": "Новина!"})
    broadcast.post_submit(actor=staff.press, post=post)
    broadcast.post_approve(actor=staff.supervisor2, post=post)
    broadcast.post_retry(actor=staff.supervisor, post=post)
    _drain(channel)
    broadcast.post_delete(actor=staff.supervisor, post=post)
    _drain(channel)
    assert channel.messages == {}, f"left on the channel after delete: {channel.messages}"


def test_a_ukrainian_press_officer_reads_the_post_screen_in_ukrainian() -> None:
    staff = Staff()
    post = _approved(staff, {"ru": "Новость", "uk": "Новина"})
    broadcast.post_delete(actor=staff.supervisor, post=post)  # pending sends: "cancelled"
    client = Client(HTTP_ACCEPT_LANGUAGE="uk")
    login_verified(client, staff.press)
    page = client.get(f"/console/posts/{post.pk}/").content.decode()
    leaks = [
        w for w in ("post.drafted", "post.approved", "post.deleted", ">cancelled<") if w in page
    ]
    assert leaks == [], f"English/internal words on a Ukrainian screen: {leaks}"


def test_the_time_of_an_approved_post_not_yet_sent_can_be_changed_or_says_why_not() -> None:
    """The docstring says the time changes "only before the first send"; in fact it cannot
    change once approved, and post_save silently ignores the new time."""
    from datetime import timedelta

    staff = Staff()
    later = timezone.now() + timedelta(days=30)
    post = broadcast.post_create(actor=staff.press, texts={"ru": "Новость"}, publish_at=later)
    broadcast.post_submit(actor=staff.press, post=post)
    broadcast.post_approve(actor=staff.supervisor, post=post)
    broadcast.post_propose_edit(actor=staff.press, post=post)
    sooner = timezone.now() + timedelta(days=1)
    try:
        broadcast.post_save(
            actor=staff.press, post=post, texts={"ru": "Новость"}, publish_at=sooner
        )
    except broadcast.PostError:
        return  # refused with a reason: fine
    post.refresh_from_db()
    assert post.publish_at == sooner, "the new time was silently dropped"
