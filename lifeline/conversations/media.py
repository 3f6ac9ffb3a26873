"""Photos and voice messages people send: kept for the operator and the verifier, never
trusted.

A photo is decoded by Pillow and written again as a fresh JPEG: EXIF (the phone's GPS position,
its model, the time), comments and anything appended to the file do not survive, and a file
that is not a picture is refused. A voice message is kept as it came (Telegram records it as
Ogg Opus in its own app); it is checked to be Ogg and never played by the server. Both are stored
encrypted. Fetching happens later, in the channel's sender, outside the person's message step."""

from __future__ import annotations

import logging
import warnings
from io import BytesIO
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, override
from PIL import Image, ImageOps

from lifeline.stats.services import stat_record

from .delivery import Reply
from .host import _active_run, _awaiting_secret, count_unread
from .models import Attachment, Conversation, Direction, MediaKind, MediaStatus, Message

log = logging.getLogger(__name__)

#: A picture larger than this is refused before it is decoded (a decompression bomb).
MAX_PIXELS = 40_000_000
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})


class MediaRefused(ValueError):
    """The file is not something Lifeline keeps (not a picture, too large, not Ogg)."""


def reencode_photo(data: bytes) -> bytes:
    """A fresh JPEG of the picture in ``data``, with no metadata; MediaRefused otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as opened:
                if opened.format not in ACCEPTED_FORMATS:
                    raise MediaRefused(f"format {opened.format}")
                if opened.width * opened.height > MAX_PIXELS:
                    raise MediaRefused("too many pixels")
                opened.load()
                try:
                    image = ImageOps.exif_transpose(opened)  # keep it upright, then drop EXIF
                except Exception:  # noqa: BLE001 - a broken orientation tag: keep as is
                    image = opened.copy()
        # Only the pixels go on: a new image made from them carries no comment, text chunk or
        # profile (Pillow's JPEG writer would copy ``info["comment"]``).
        rgb = image.convert("RGB")
        image = Image.frombytes("RGB", rgb.size, rgb.tobytes())
        side = settings.LIFELINE_PHOTO_MAX_SIDE
        image.thumbnail((side, side))
        out = BytesIO()
        image.save(out, format="JPEG", quality=85, optimize=True)
        return out.getvalue()
    except MediaRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever Pillow says about a hostile file
        raise MediaRefused(type(exc).__name__) from None


def check_voice(data: bytes) -> bytes:
    if not data.startswith(b"OggS"):
        raise MediaRefused("not Ogg")
    return data


def receive(
    conversation: Conversation, kind: str, caption: str = ""
) -> tuple[Message, Attachment, list[Reply]]:
    """The person sent a photo or a voice message: it joins the transcript at once (to be
    fetched), and he is told it is kept. Runs inside the caller's transaction, with the
    conversation locked."""
    caption = (caption or "").strip()[:4000]
    if caption and _awaiting_secret(_active_run(conversation)) is not None:
        caption = ""  # the bot waits for his code words: a caption may hold them; never kept
    message = Message.objects.create(
        conversation=conversation, direction=Direction.IN, text=caption
    )
    attachment = Attachment.objects.create(message=message, kind=kind)
    conversation.last_message_at = timezone.now()
    conversation.save(update_fields=["last_message_at"])
    stat_record(
        kind="message.in",
        channel=conversation.channel,
        language=conversation.language,
        at=message.created_at,
    )
    count_unread(conversation)
    with override(conversation.language):
        if kind == MediaKind.PHOTO:
            text = _("Thank you. The photo is kept securely for the operator.")
        else:
            text = _(
                "Thank you. The voice message is kept securely for the operator. If you can, "
                "please also write in text: the bot cannot listen to it."
            )
    return message, attachment, [Reply(text)]


def refusal(conversation: Conversation, reason: str) -> list[Reply]:
    """A polite no, in his language: other files, or a photo or voice message too large."""
    with override(conversation.language):
        if reason == "large":
            megabytes = settings.LIFELINE_MEDIA_MAX_BYTES // (1024 * 1024)
            minutes = settings.LIFELINE_VOICE_MAX_SECONDS // 60
            text = ngettext(
                "Sorry, this file is too large: we take photos and voice messages up to "
                "%(mb)d MB and %(minutes)d minute. Please send a smaller one, or write in text.",
                "Sorry, this file is too large: we take photos and voice messages up to "
                "%(mb)d MB and %(minutes)d minutes. Please send a smaller one, or write in text.",
                minutes,
            ) % {"mb": megabytes, "minutes": minutes}
        else:
            text = _(
                "Sorry, we can take only photos and voice messages here, not other files. "
                "Please write your answer in text."
            )
    return [Reply(text)]


@transaction.atomic
def store(attachment_id: str | UUID, data: bytes) -> Attachment | None:
    """The fetched bytes: checked, re-encoded and stored encrypted. A refused file is marked,
    never stored. None if the attachment is gone (the conversation was erased)."""
    key = _uuid(attachment_id)
    attachment = Attachment.objects.select_for_update().filter(pk=key).first() if key else None
    if attachment is None or attachment.status != MediaStatus.PENDING:
        return attachment
    try:
        if len(data) > settings.LIFELINE_MEDIA_MAX_BYTES:
            raise MediaRefused("too large")
        if attachment.kind == MediaKind.PHOTO:
            content, content_type = reencode_photo(data), "image/jpeg"
        else:
            content, content_type = check_voice(data), "audio/ogg"
    except MediaRefused as exc:
        log.info("media refused: %s", exc)
        attachment.status = MediaStatus.REFUSED
        attachment.save(update_fields=["status"])
        return attachment
    attachment.content = content
    attachment.content_type = content_type
    attachment.size = len(content)
    attachment.status = MediaStatus.READY
    attachment.save(update_fields=["content", "content_type", "size", "status"])
    return attachment


def refuse(attachment_id: str | UUID) -> None:
    """The channel would not give the file (gone, or too large for it)."""
    key = _uuid(attachment_id)
    if key is not None:
        Attachment.objects.filter(pk=key, status=MediaStatus.PENDING).update(
            status=MediaStatus.REFUSED
        )


def _uuid(value: str | UUID) -> UUID | None:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        return None
