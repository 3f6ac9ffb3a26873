"""Posts to the hotline's public Telegram channels, run from the console.

* The press office proposes a post (a text per language, an optional picture re-encoded on
  the server so no metadata leaves with it, an optional time); a supervisor who did not write
  it approves it or sends it back with a reason. Edits of a scheduled or published post are
  proposed and approved the same way; a supervisor may delete a post at once.
* Approval writes sends into the post's outbox (``PostDelivery``): one per language whose
  channel is configured (``LIFELINE_TELEGRAM_CHANNELS``). The worker sends them when due,
  within the bot's shared budget (``outbox._take_slot``) and at most one message every
  ``POST_GAP`` per channel; edits and deletions wait for the message they change.
* A post's text is read when it is sent, so two quick edits reach the channel as the latest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from lifeline.audit.services import audit_record
from lifeline.conversations import media
from lifeline.core.channels import Channel, Language
from lifeline.core.models import Role, User
from lifeline.core.parsing import clean_text
from lifeline.core.staff import staff_linked_to_any

from . import outbox
from .models import (
    ChannelPost,
    OutboundStatus,
    PostAction,
    PostDelivery,
    PostStatus,
    ProposalState,
)

log = logging.getLogger(__name__)

WRITER_ROLES = frozenset({Role.PRESS, Role.SUPERVISOR})
TEXT_MAX = 4096  # Telegram's limit for a message
CAPTION_MAX = 1024  # and for a picture's caption
NOTE_MAX = 500
#: Telegram lets a bot post about 20 messages a minute into one channel.
POST_GAP = timedelta(seconds=3)
MAX_ATTEMPTS = 8
_TARGET = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?[0-9]{1,20}")


class PostError(ValueError):
    """A step that cannot be taken; the message says why, in the user's language."""


def targets() -> dict[str, str]:
    """The configured channels by language (ill-formed entries are ignored)."""
    found = {}
    for language, target in dict(settings.LIFELINE_TELEGRAM_CHANNELS).items():
        target = str(target).strip()
        if language in Language.values and _TARGET.fullmatch(target):
            found[str(language)] = target
    return found


def digest(post: ChannelPost) -> str:
    """A fingerprint of what a reviewer decides on: the proposed texts, the picture and the
    time. An approval made on a page that showed something else is refused."""
    import hashlib
    import json

    h = hashlib.sha256()
    h.update(json.dumps(post.proposed or {}, sort_keys=True, ensure_ascii=False).encode())
    h.update(hashlib.sha256(post.image or b"").digest())
    h.update(str(post.publish_at.timestamp() if post.publish_at else "").encode())
    return h.hexdigest()[:32]


def _seen(post: ChannelPost, seen: str | None) -> None:
    if seen is not None and seen != digest(post):
        raise PostError(_("The post changed while you were reading it: read it again."))


# --- Writing and approving ----------------------------------------------------------------


def _writer(actor: User) -> None:
    if not (actor.is_active and actor.role in WRITER_ROLES):
        raise PermissionDenied


def _supervisor(actor: User) -> None:
    if not (actor.is_active and actor.role == Role.SUPERVISOR):
        raise PermissionDenied


def _audit(actor: User, action: str, post: ChannelPost, fields: list[str] | None = None) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="channel_post",
        object_id=post.pk,
        fields=fields or [],
    )


def clean_texts(raw: Mapping[str, object], *, with_image: bool) -> dict[str, str]:
    texts = {}
    for language in Language.values:
        text = clean_text(raw.get(language) or "", max_length=TEXT_MAX + 1)
        text = text.replace("\r\n", "\n").strip()
        if text:
            texts[language] = text
    if not texts:
        raise PostError(_("Write the post in at least one language."))
    limit = CAPTION_MAX if with_image else TEXT_MAX
    for text in texts.values():
        if len(text) > limit:
            if with_image:
                raise PostError(
                    _("A text under a picture may have at most %(max)d characters.")
                    % {"max": limit}
                )
            raise PostError(_("A text is too long: at most %(max)d characters.") % {"max": limit})
    if not set(texts) & set(targets()):
        raise PostError(
            _("No channel is set up for the languages of this post (LIFELINE_TELEGRAM_CHANNELS).")
        )
    return texts


def clean_image(data: bytes | None) -> bytes | None:
    if data is None:
        return None
    if len(data) > settings.LIFELINE_MEDIA_MAX_BYTES:
        raise PostError(_("The picture is too large."))
    try:
        return media.reencode_photo(data)
    except media.MediaRefused:
        raise PostError(_("This file is not a picture we can use (JPEG, PNG or WebP).")) from None


def _locked(post: ChannelPost) -> ChannelPost:
    return ChannelPost.objects.select_for_update().get(pk=post.pk)


def _add_editor(post: ChannelPost, actor: User) -> None:
    if actor.pk not in post.editors:
        post.editors = [*post.editors, actor.pk]


@transaction.atomic
def post_create(
    *,
    actor: User,
    texts: Mapping[str, object],
    image: bytes | None = None,
    publish_at: datetime | None = None,
) -> ChannelPost:
    _writer(actor)
    picture = clean_image(image)
    post = ChannelPost.objects.create(
        proposed=clean_texts(texts, with_image=picture is not None),
        image=picture,
        publish_at=publish_at,
        created_by=actor,
        editors=[actor.pk],
        proposal=ProposalState.EDITING,
    )
    _audit(actor, "post.drafted", post, ["texts", *(["image"] if picture else [])])
    return post


@transaction.atomic
def post_save(
    *,
    actor: User,
    post: ChannelPost,
    texts: Mapping[str, object],
    image: bytes | None = None,
    remove_image: bool = False,
    publish_at: datetime | None = None,
) -> ChannelPost:
    """Change the proposal. The picture and the time can change only before the first send."""
    _writer(actor)
    post = _locked(post)
    if post.proposal != ProposalState.EDITING:
        raise PostError(_("This post cannot be changed now."))
    changed = []
    if post.status == PostStatus.DRAFT:
        if image is not None:
            post.image = clean_image(image)
            changed.append("image")
        elif remove_image and post.image is not None:
            post.image = None
            changed.append("image")
        if publish_at != post.publish_at:
            post.publish_at = publish_at
            changed.append("publish_at")
    else:
        if image is not None or remove_image:
            raise PostError(
                _("The picture of an approved post cannot be changed: delete it and write anew.")
            )
        if publish_at is not None and publish_at != post.publish_at:
            raise PostError(
                _("The time of an approved post cannot be changed: delete it and write anew.")
            )
    proposed = clean_texts(texts, with_image=post.image is not None)
    if proposed != post.proposed:
        post.proposed = proposed
        changed.append("texts")
    if not changed:
        return post  # saved as it was: nothing to record
    _add_editor(post, actor)
    post.save()
    _audit(actor, "post.changed", post, sorted(changed))
    return post


@transaction.atomic
def post_submit(*, actor: User, post: ChannelPost) -> ChannelPost:
    _writer(actor)
    post = _locked(post)
    if post.proposal != ProposalState.EDITING:
        raise PostError(_("Only a post being written can be sent for approval."))
    post.proposal = ProposalState.SUBMITTED
    post.review_note = ""
    post.save(update_fields=["proposal", "review_note", "updated_at"])
    _audit(actor, "post.submitted", post)
    return post


@transaction.atomic
def post_withdraw(*, actor: User, post: ChannelPost) -> ChannelPost:
    _writer(actor)
    post = _locked(post)
    if post.proposal != ProposalState.SUBMITTED:
        raise PostError(_("Only a post waiting for approval can be taken back."))
    post.proposal = ProposalState.EDITING
    post.save(update_fields=["proposal", "updated_at"])
    _audit(actor, "post.withdrawn", post)
    return post


@transaction.atomic
def post_propose_edit(*, actor: User, post: ChannelPost) -> ChannelPost:
    """Start changing the texts of an approved post (scheduled or published)."""
    _writer(actor)
    post = _locked(post)
    if post.status not in (PostStatus.SCHEDULED, PostStatus.PUBLISHED):
        raise PostError(_("Only an approved post can be edited."))
    if post.proposal != ProposalState.NONE:
        return post
    post.proposed = dict(post.texts or {})
    post.proposal = ProposalState.EDITING
    post.editors = [actor.pk]
    post.save(update_fields=["proposed", "proposal", "editors", "updated_at"])
    _audit(actor, "post.edit_started", post)
    return post


@transaction.atomic
def post_discard(*, actor: User, post: ChannelPost) -> ChannelPost:
    """Give up the proposal: a post never approved is gone; an approved one stays as it is."""
    _writer(actor)
    post = _locked(post)
    if post.proposal == ProposalState.NONE:
        raise PostError(_("There is nothing proposed to discard."))
    post.proposal = ProposalState.NONE
    post.proposed = None
    if post.status == PostStatus.DRAFT:
        post.status = PostStatus.DELETED
        post.image = None
    post.save()
    _audit(actor, "post.discarded", post)
    return post


@transaction.atomic
def post_send_back(
    *, actor: User, post: ChannelPost, note: object, seen: str | None = None
) -> ChannelPost:
    _supervisor(actor)
    post = _locked(post)
    if post.proposal != ProposalState.SUBMITTED:
        raise PostError(_("Only a post waiting for approval can be sent back."))
    _seen(post, seen)
    reason = " ".join(clean_text(note or "", max_length=NOTE_MAX).split())
    if not reason:
        raise PostError(_("Say what should change."))
    post.proposal = ProposalState.EDITING
    post.review_note = reason
    post.save(update_fields=["proposal", "review_note", "updated_at"])
    _audit(actor, "post.sent_back", post, ["review_note"])
    return post


def _live_post(post: ChannelPost, language: str, before: int | None = None) -> PostDelivery | None:
    """The language's message that is on the channel or about to be (pending or sent), if any:
    the latest first send after the latest deletion. ``before``: as seen by that delivery."""
    rows = PostDelivery.objects.filter(post=post, language=language)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    deleted = (
        rows.filter(action=PostAction.DELETE)
        .exclude(status=OutboundStatus.DISCARDED)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    posts = rows.filter(
        action=PostAction.POST, status__in=[OutboundStatus.PENDING, OutboundStatus.SENT]
    )
    if deleted is not None:
        posts = posts.filter(pk__gt=deleted)
    return posts.order_by("-pk").first()


def _supersede_failed(post: ChannelPost, language: str) -> None:
    """A failed first send replaced by a new one is never retried (it would post twice)."""
    PostDelivery.objects.filter(
        post=post, language=language, action=PostAction.POST, status=OutboundStatus.FAILED
    ).update(status=OutboundStatus.DISCARDED, error="superseded")


@transaction.atomic
def post_approve(*, actor: User, post: ChannelPost, seen: str | None = None) -> ChannelPost:
    """Approve the proposal: a new post is scheduled; an edit goes to the channels. ``seen``:
    the digest of what the reviewer's page showed (the console always sends it)."""
    _supervisor(actor)
    post = _locked(post)
    if staff_linked_to_any(actor, post.editors):  # nor an account linked to a writer's
        raise PostError(_("Another supervisor must approve a post you wrote or changed."))
    if post.proposal != ProposalState.SUBMITTED or post.status == PostStatus.DELETED:
        raise PostError(_("Only a post waiting for approval can be approved."))
    _seen(post, seen)
    texts = clean_texts(post.proposed or {}, with_image=post.image is not None)
    channels = targets()
    now = timezone.now()
    when = post.publish_at if post.publish_at and post.publish_at > now else now
    before = dict(post.texts or {})
    for language, target in channels.items():
        existing = _live_post(post, language)
        if existing is None:
            if language in texts:
                _supersede_failed(post, language)
                PostDelivery.objects.create(
                    post=post,
                    language=language,
                    target=target,
                    action=PostAction.POST,
                    next_attempt_at=when,
                )
        elif language not in texts:
            _retract(post, existing)
        elif texts[language] != before.get(language) and existing.status == OutboundStatus.SENT:
            PostDelivery.objects.create(
                post=post,
                language=language,
                target=existing.target,
                action=PostAction.EDIT,
                next_attempt_at=now,
            )
        # A send still pending reads the new text when it goes.
    post.texts = texts
    post.proposed = None
    post.proposal = ProposalState.NONE
    if post.status == PostStatus.DRAFT:
        post.status = PostStatus.SCHEDULED
    post.approved_by = actor
    post.approved_at = now
    post.save()
    _audit(actor, "post.approved", post, sorted(texts))
    _settle(post)
    return post


def _retract(post: ChannelPost, delivery: PostDelivery) -> None:
    """Take one language's message off its channel (or never send it)."""
    pending = PostDelivery.objects.filter(
        post=post, language=delivery.language, status=OutboundStatus.PENDING
    )
    if delivery.status == OutboundStatus.PENDING:
        pending.update(status=OutboundStatus.DISCARDED, error="cancelled")
        return
    edits = pending.filter(action=PostAction.EDIT)
    edits.update(status=OutboundStatus.DISCARDED, error="cancelled")
    PostDelivery.objects.create(
        post=post,
        language=delivery.language,
        target=delivery.target,
        action=PostAction.DELETE,
        next_attempt_at=timezone.now(),
    )


@transaction.atomic
def post_delete(*, actor: User, post: ChannelPost) -> ChannelPost:
    """A supervisor takes the post off every channel at once (or cancels it before it goes)."""
    _supervisor(actor)
    post = _locked(post)
    if post.status == PostStatus.DELETED:
        raise PostError(_("This post is already deleted."))
    for language in Language.values:
        existing = _live_post(post, language)
        if existing is not None:
            _retract(post, existing)
        _supersede_failed(post, language)  # never retried once the post is deleted
    post.status = PostStatus.DELETED
    post.proposal = ProposalState.NONE
    post.proposed = None
    post.save()
    _audit(actor, "post.deleted", post)
    return post


@transaction.atomic
def post_retry(*, actor: User, post: ChannelPost) -> int:
    """Sends that failed (the bot was not an admin of the channel, say) are tried again."""
    _supervisor(actor)
    post = _locked(post)
    if post.status == PostStatus.DELETED:
        failed = post.deliveries.filter(status=OutboundStatus.FAILED, action=PostAction.DELETE)
    else:
        failed = post.deliveries.filter(status=OutboundStatus.FAILED)
    count = failed.update(
        status=OutboundStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), error=""
    )
    if count:
        if post.status == PostStatus.PUBLISHED:
            post.status = PostStatus.SCHEDULED
            post.save(update_fields=["status", "updated_at"])
        _audit(actor, "post.retried", post)
    return count


def _settle(post: ChannelPost) -> None:
    """A scheduled post whose every first send is done is published."""
    if post.status != PostStatus.SCHEDULED:
        return
    if post.deliveries.filter(action=PostAction.POST, status=OutboundStatus.PENDING).exists():
        return
    if post.deliveries.filter(action=PostAction.POST, status=OutboundStatus.SENT).exists():
        ChannelPost.objects.filter(pk=post.pk, status=PostStatus.SCHEDULED).update(
            status=PostStatus.PUBLISHED
        )


# --- Sending ------------------------------------------------------------------------------


@runtime_checkable
class PostSender(Protocol):
    def deliver_post(
        self, action: str, target: str, text: str, image: bytes | None, message_id: str
    ) -> str:
        """Send, edit or delete; return the channel's message id (for a new message). Raise
        outbox's RetryAfter, TransientError or PermanentError."""


def _due() -> object:
    now = timezone.now()
    earlier = PostDelivery.objects.filter(
        post=OuterRef("post"),
        language=OuterRef("language"),
        status=OutboundStatus.PENDING,
        pk__lt=OuterRef("pk"),
    )
    return (
        PostDelivery.objects.filter(status=OutboundStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(~Exists(earlier))
        .order_by("next_attempt_at", "pk")
    )


def _target_free(target: str, now: datetime) -> bool:
    last = PostDelivery.objects.filter(target=target, sent_at__isnull=False).aggregate(
        last=Max("sent_at")
    )["last"]
    return last is None or now - last >= POST_GAP


def send_next(sender: PostSender) -> bool:
    """Send one due post message. False when nothing is due or every due channel must wait."""
    now = timezone.now()
    head = next(
        (d for d in _due()[:20] if _target_free(d.target, now)),  # type: ignore[index]
        None,
    )
    if head is None or not outbox._take_slot(Channel.TELEGRAM):
        return False
    with transaction.atomic():
        # The post's row first (as every change of a post locks it): a delete or an approved
        # edit waits for this send and then sees it sent, so it deletes or edits the message.
        post = (
            ChannelPost.objects.select_for_update(skip_locked=True).filter(pk=head.post_id).first()
        )
        if post is None:
            return False
        delivery = (
            PostDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=head.pk, status=OutboundStatus.PENDING)
            .first()
        )
        if delivery is None:
            return False
        sent_text = _attempt(sender, post, delivery, timezone.now())
        delivery.save()
        if delivery.status == OutboundStatus.SENT and delivery.action != PostAction.DELETE:
            _catch_up(post, delivery, sent_text)
        _settle(post)
    return True


def _catch_up(post: ChannelPost, delivery: PostDelivery, sent_text: str) -> None:
    """What changed while the message was on its way (wherever the lock could not hold: the
    same transaction, a database without row locks) reaches the channel too: a deleted post
    gets its message deleted, a newer text an edit."""
    fresh = ChannelPost.objects.filter(pk=post.pk).values_list("status", flat=True).first()
    pending = PostDelivery.objects.filter(
        post=post, language=delivery.language, status=OutboundStatus.PENDING, pk__gt=delivery.pk
    )
    if fresh == PostStatus.DELETED:
        if not pending.filter(action=PostAction.DELETE).exists():
            PostDelivery.objects.create(
                post=post,
                language=delivery.language,
                target=delivery.target,
                action=PostAction.DELETE,
                next_attempt_at=timezone.now(),
            )
        return
    texts = ChannelPost.objects.get(pk=post.pk).texts or {}
    current = str(texts.get(delivery.language, ""))
    if current and current != sent_text and not pending.filter(action=PostAction.EDIT).exists():
        PostDelivery.objects.create(
            post=post,
            language=delivery.language,
            target=delivery.target,
            action=PostAction.EDIT,
            next_attempt_at=timezone.now(),
        )


def _attempt(sender: PostSender, post: ChannelPost, delivery: PostDelivery, now: datetime) -> str:
    """One try; returns the text sent (or "")."""
    message_id = ""
    if delivery.action != PostAction.POST:
        live = _live_post(post, delivery.language, before=delivery.pk)
        if live is None or live.status != OutboundStatus.SENT or not live.message_id:
            delivery.status = OutboundStatus.DISCARDED
            delivery.error = "never sent"
            return ""
        message_id = live.message_id
    text = str((post.texts or {}).get(delivery.language, ""))
    if delivery.action != PostAction.DELETE and not text:
        delivery.status = OutboundStatus.DISCARDED
        delivery.error = "no text"
        return ""
    delivery.attempts += 1
    try:
        external = sender.deliver_post(
            delivery.action, delivery.target, text, post.image, message_id
        )
    except outbox.RetryAfter as exc:
        delivery.next_attempt_at = now + timedelta(seconds=max(exc.seconds, 1))
        delivery.error = "429 retry_after"
        outbox._pause(Channel.TELEGRAM, exc.seconds)
        return ""
    except outbox.PermanentError as exc:
        delivery.status = OutboundStatus.FAILED
        delivery.error = str(exc)[:200]
        return ""
    except Exception as exc:  # noqa: BLE001 - transient or unmapped: retried with backoff
        known = isinstance(exc, outbox.TransientError)
        delivery.error = (str(exc) if known else f"unexpected: {type(exc).__name__}")[:200]
        delay = min(outbox.MAX_BACKOFF, 2**delivery.attempts)
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = OutboundStatus.FAILED
        return ""
    delivery.status = OutboundStatus.SENT
    delivery.sent_at = now
    delivery.error = ""
    if delivery.action == PostAction.POST:
        delivery.message_id = external[:32]
    log.info("channel post %s: %s %s sent", str(post.pk)[:8], delivery.action, delivery.language)
    return text


def send_all(sender: PostSender, limit: int = 10) -> int:
    sent = 0
    while sent < limit and send_next(sender):
        sent += 1
    return sent
