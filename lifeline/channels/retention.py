"""The channels' own rows do not outlive their purpose (issue 15, part 5).

* Inbox events processed (or dropped: a blocked sender, discarded by a supervisor) and outbox
  messages sent (or discarded) are deleted ``LIFELINE_RETENTION_INBOX_DAYS`` later: their
  content is already purged or is in the transcript, and Telegram redelivers an update within a
  day at most (the inbox row is what makes a redelivery a no-op).
* Failed events and messages keep their encrypted content until a supervisor resolves them
  (console: failed messages), but not beyond ``LIFELINE_RETENTION_TRANSCRIPT_DAYS``.

* What arrives is sealed under the hour's inbox key (``keystore.inbox_key``). An hour after a
  key was made, the payloads still sealed under it (events waiting, deferred or failed) are
  re-sealed under the current hour's key and the old key is destroyed: a copy of the database
  opens what a person sent for a couple of hours at most, whatever became of him since.

Each rule deletes a bounded batch a pass; 0 days turns it off.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from lifeline.core import crypto, keystore
from lifeline.core.models import KeyShred

from .models import InboundEvent, InboundStatus, OutboundMessage, OutboundStatus

#: Rows one rule deletes at most in a pass.
BATCH = 5000


def _delete(model: type, where: Q) -> int:
    ids = list(model.objects.filter(where).values_list("pk", flat=True)[:BATCH])  # type: ignore[attr-defined]
    if not ids:
        return 0
    return int(model.objects.filter(pk__in=ids).delete()[0])  # type: ignore[attr-defined]


#: Seconds after an inbox key was made before it is retired: its hour is over, and ten minutes
#: more for a row sealed in the hour's last second to be committed (the webhook's group commit,
#: a worker's batch) before the key's payloads are looked for.
INBOX_KEY_SECONDS = 3600 + 600


def retire_inbox_keys() -> int:
    """Re-seal the payloads still under an inbox key older than INBOX_KEY_SECONDS under this
    hour's key, then destroy it; how many keys were destroyed. A payload locked by a worker
    just now keeps its key until the next turn."""
    store = keystore.store()
    current = keystore.inbox_key()
    old = [
        k
        for k in store.with_purpose(keystore.INBOX, made_before=time.time() - INBOX_KEY_SECONDS)
        if k != current.id
    ]
    retired = []
    for key in old:
        prefix = f"{crypto.DATA_KEY_PREFIX}:{key.hex}:%"
        with transaction.atomic():
            waiting = list(
                InboundEvent.objects.extra(where=["payload LIKE %s"], params=[prefix])  # noqa: S610 - a constant pattern, as a parameter
                .select_for_update(skip_locked=True)
                .only("pk", "payload")
            )
            for event in waiting:
                event.save(update_fields=["payload"])  # opened by the old key, sealed anew
            left = InboundEvent.objects.extra(where=["payload LIKE %s"], params=[prefix]).exists()  # noqa: S610
        if not left:
            retired.append(key)
    if retired:  # through KeyShred: retried until no copy is left in the store's files
        KeyShred.objects.bulk_create([KeyShred(key=k) for k in retired], ignore_conflicts=True)
        keystore.destroy_shredded(retired)
    return len(retired)


def purge(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    found: dict[str, int] = {"inbox_keys_destroyed": retire_inbox_keys()}
    days = int(settings.LIFELINE_RETENTION_INBOX_DAYS)
    if days > 0:
        cutoff = now - timedelta(days=days)
        found["inbox_events"] = _delete(
            InboundEvent,
            Q(
                status__in=(
                    InboundStatus.DONE,
                    InboundStatus.BLOCKED,
                    InboundStatus.DISCARDED,
                )
            )
            & (Q(processed_at__lt=cutoff) | Q(processed_at=None, received_at__lt=cutoff)),
        )
        found["outbox_messages"] = _delete(
            OutboundMessage,
            Q(status__in=(OutboundStatus.SENT, OutboundStatus.DISCARDED))
            & (Q(sent_at__lt=cutoff) | Q(sent_at=None, created_at__lt=cutoff)),
        )
    days = int(settings.LIFELINE_RETENTION_TRANSCRIPT_DAYS)
    if days > 0:
        cutoff = now - timedelta(days=days)
        found["failed_inbox_events"] = _delete(
            InboundEvent, Q(status=InboundStatus.FAILED, received_at__lt=cutoff)
        )
        found["failed_outbox_messages"] = _delete(
            OutboundMessage, Q(status=OutboundStatus.FAILED, created_at__lt=cutoff)
        )
    return {name: count for name, count in found.items() if count}


#: Seconds between two purge turns (one worker runs it: whoever takes the turn in the cache),
#: and how long a turn goes on, a batch of each rule at a time, while there is more to erase.
PURGE_EVERY = 300
TURN_BATCHES = 50
TURN_SECONDS = 20.0


def run_purges(now: datetime | None = None, *, force: bool = False) -> dict[str, int]:
    """Every app's retention rules (``LIFELINE_PURGES``: dotted paths of ``purge(now)``), once
    per PURGE_EVERY across the workers (``force``: now, whoever else ran them); what they
    erased, by name and count, in one audit entry."""
    from django.core.cache import cache
    from django.utils.module_loading import import_string

    from lifeline.audit.services import audit_record

    if not force and not cache.add("retention:turn", 1, PURGE_EVERY):
        return {}
    import time

    found: dict[str, int] = {}
    started = time.monotonic()
    # Batch after batch while there is more (after a flood) and the turn lasts: each rule's
    # batch is bounded, so a busy day's rows are caught up, not left a batch a turn behind.
    for _batch in range(TURN_BATCHES):
        erased = 0
        for path in settings.LIFELINE_PURGES:
            for name, count in import_string(path)(now).items():
                found[name] = found.get(name, 0) + count
                erased += count
        if not erased or time.monotonic() - started > TURN_SECONDS:
            break
    if found:
        audit_record(
            actor=None,
            actor_label="retention",
            action="retention.purged",
            object_type="retention",
            fields=[f"{name}:{count}" for name, count in sorted(found.items())],
        )
    return found
