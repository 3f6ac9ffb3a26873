"""Blocking at the door: a supervisor blocks a sender (a Telegram account, a web chat, a phone
number) for a chosen time. A blocked sender's updates are acknowledged and dropped before any
processing: at the webhook, before the web chat stores a message, at the phone line, and in the
worker for what arrived before the block.

The check runs on the webhook's hot path, so it reads a snapshot of the active blocks kept in
each process and reloaded every ``REFRESH_SECONDS`` (one small query), not the database for
every update: a block reaches the other processes within that time, and its own at once.
Blocks are kept by identity, so a rotation of the blind-index key carries them along."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifeline.audit.services import audit_record
from lifeline.core import crypto
from lifeline.core.models import Role, User

from .models import BlockReason, Identity, SenderBlock, identity_index

REFRESH_SECONDS = 5.0
#: How long a block may last: hours -> label.
DURATIONS: dict[int, object] = {
    1: gettext_lazy("an hour"),
    24: gettext_lazy("a day"),
    24 * 7: gettext_lazy("a week"),
    24 * 30: gettext_lazy("30 days"),
    24 * 365: gettext_lazy("a year"),
}

_snapshot: tuple[float, dict[tuple[str, str], datetime]] | None = None


def forget() -> None:
    """Drop this process's snapshot: the next check reads the blocks anew."""
    global _snapshot
    _snapshot = None


def reload() -> None:
    """Read the active blocks into this process's snapshot now."""
    global _snapshot
    found: dict[tuple[str, str], datetime] = {}
    rotating = len(crypto.keyring().blind_index_keys) > 1
    for block in SenderBlock.objects.filter(until__gt=timezone.now()).select_related("identity"):
        identity, until = block.identity, block.until
        indexes = [identity.address_index]
        if rotating and identity.address:
            # A blind-index key rotation: his updates may come under either key's index.
            indexes += crypto.lookup(identity_index, identity.channel, identity.address)
        for index in indexes:
            key = (identity.channel, index)
            found[key] = max(until, found.get(key, until))
    _snapshot = (time.monotonic(), found)


def _active(*, reload_if_old: bool = True) -> dict[tuple[str, str], datetime]:
    snapshot = _snapshot
    if reload_if_old and (snapshot is None or time.monotonic() - snapshot[0] > REFRESH_SECONDS):
        reload()
        snapshot = _snapshot
    return snapshot[1] if snapshot is not None else {}


def blocked(channel: str, index: str, *, reload: bool = True) -> bool:
    """Whether the sender with this blind index (an inbox ordering key) is blocked now.
    ``reload=False``: read only the snapshot, never the database (an event loop keeps it
    fresh in a thread: the webhook's accept server)."""
    if not index:
        return False
    until = _active(reload_if_old=reload).get((channel, index))
    return until is not None and until > timezone.now()


def active_blocks() -> QuerySet[SenderBlock]:
    return (
        SenderBlock.objects.filter(until__gt=timezone.now())
        .select_related("identity", "created_by")
        .order_by("until")
    )


def _check(actor: User) -> None:
    if actor.role != Role.SUPERVISOR:
        raise PermissionDenied(_("Only a supervisor blocks or unblocks a sender."))


@transaction.atomic
def block_sender(*, actor: User, identity: Identity, hours: object, reason: object) -> SenderBlock:
    """Block the sender for ``hours`` (one of ``DURATIONS``); a block he already has is replaced
    (to lengthen or shorten it). Audited: the channel, the reason and the time, no address."""
    _check(actor)
    try:
        hours = int(str(hours))
    except ValueError:
        hours = 0
    if hours not in DURATIONS:
        raise ValueError(_("Choose how long the block lasts."))
    if reason not in BlockReason.values:
        raise ValueError(_("Choose why the sender is blocked."))
    SenderBlock.objects.filter(identity=identity).delete()
    block = SenderBlock.objects.create(
        identity=identity,
        reason=str(reason),
        until=timezone.now() + timedelta(hours=hours),
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="sender.blocked",
        object_type="identity",
        object_id=identity.pk,
        fields=["channel", "reason", "until"],
    )
    forget()  # (again once committed: a check between now and then may have read the old state)
    transaction.on_commit(forget)
    return block


@transaction.atomic
def unblock_sender(*, actor: User, block: SenderBlock) -> None:
    _check(actor)
    audit_record(
        actor=actor,
        action="sender.unblocked",
        object_type="identity",
        object_id=block.identity_id,
        fields=["channel"],
    )
    block.delete()
    forget()
    transaction.on_commit(forget)
