"""Appending to and verifying the audit chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .models import AuditEntry, AuditHead

GENESIS = "0" * 64


def _content(
    *,
    seq: int,
    created_at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    fields: list[str],
) -> bytes:
    return json.dumps(
        {
            "seq": seq,
            "at": created_at.isoformat(timespec="microseconds"),
            "actor": actor_id,
            "actor_label": actor_label,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "fields": fields,
        },
        sort_keys=True,
        ensure_ascii=True,
        separators=(",", ":"),
    ).encode()


def entry_digest(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()


def audit_record(
    *,
    actor: object | None,
    action: str,
    object_type: str = "",
    object_id: object = "",
    fields: Iterable[str] = (),
    actor_label: str = "",
) -> AuditEntry:
    """Append one entry. Joins the caller's transaction, so the entry commits (or not) with the
    change it describes."""
    with transaction.atomic():
        AuditHead.objects.get_or_create(id=1, defaults={"entry_hash": GENESIS})
        head = AuditHead.objects.select_for_update().get(id=1)
        seq = head.seq + 1
        now = timezone.now()
        actor_id = getattr(actor, "pk", None)
        names = sorted(set(fields))
        digest = entry_digest(
            head.entry_hash,
            _content(
                seq=seq,
                created_at=now,
                actor_id=actor_id,
                actor_label=actor_label,
                action=action,
                object_type=object_type,
                object_id=str(object_id),
                fields=names,
            ),
        )
        entry = AuditEntry.objects.create(
            seq=seq,
            created_at=now,
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            fields=names,
            prev_hash=head.entry_hash,
            entry_hash=digest,
        )
        head.seq, head.entry_hash = seq, digest
        head.save(update_fields=["seq", "entry_hash"])
        return entry


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    count: int
    head_hash: str
    problem: str = ""
    bad_seq: int | None = None
    bad_id: int | None = None


def audit_verify_chain() -> ChainReport:
    """Walk the chain in sequence order and recompute every hash."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=2000):
        where = {"bad_seq": entry.seq, "bad_id": entry.pk}
        if entry.seq != expected_seq:
            return ChainReport(
                False,
                count,
                prev,
                f"entry #{expected_seq} is missing (next is #{entry.seq}, id {entry.pk})",
                **where,
            )
        if entry.prev_hash != prev:
            return ChainReport(
                False,
                count,
                prev,
                f"entry #{entry.seq} (id {entry.pk}) does not "
                "follow the one before it: a row was deleted, inserted or "
                "reordered",
                **where,
            )
        digest = entry_digest(
            prev,
            _content(
                seq=entry.seq,
                created_at=entry.created_at,
                actor_id=entry.actor_id,
                actor_label=entry.actor_label,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                fields=list(entry.fields),
            ),
        )
        if digest != entry.entry_hash:
            return ChainReport(
                False,
                count,
                prev,
                f"entry #{entry.seq} (id {entry.pk}) was "
                "changed: its content no longer matches its hash",
                **where,
            )
        prev = digest
        expected_seq += 1
        count += 1
    head = AuditHead.objects.filter(id=1).first()
    if head is not None and (head.seq != count or head.entry_hash != prev):
        return ChainReport(
            False,
            count,
            prev,
            f"the chain ends at #{count} but the head "
            f"records #{head.seq}: entries were removed from the end",
            bad_seq=count + 1,
        )
    return ChainReport(True, count, prev)
