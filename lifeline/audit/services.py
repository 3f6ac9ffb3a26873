"""Appending to and verifying the audit chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


def _locked_head() -> AuditHead:
    """The head row, locked. If it is missing while entries exist (someone deleted it), it is
    rebuilt from the last entry and the rebuild itself is recorded, so the chain goes on and
    ``audit_verify`` plus the exported head hashes still show what happened."""
    head = AuditHead.objects.select_for_update().filter(id=1).first()
    if head is not None:
        return head
    last = AuditEntry.objects.order_by("-seq").first()
    AuditHead.objects.get_or_create(
        id=1,
        defaults={
            "seq": last.seq if last else 0,
            "entry_hash": last.entry_hash if last else GENESIS,
        },
    )
    head = AuditHead.objects.select_for_update().get(id=1)
    if last is not None:
        _append(
            head,
            actor_id=None,
            actor_label="system",
            action="audit.head_rebuilt",
            object_type="audit",
            object_id="head",
            names=[],
        )
    return head


def _append(
    head: AuditHead,
    *,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    names: list[str],
) -> AuditEntry:
    row: dict[str, Any] = {
        "seq": head.seq + 1,
        "created_at": timezone.now(),
        "actor_id": actor_id,
        "actor_label": actor_label,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "fields": names,
    }
    digest = entry_digest(head.entry_hash, _content(**row))
    entry = AuditEntry.objects.create(**row, prev_hash=head.entry_hash, entry_hash=digest)
    seq = row["seq"]
    head.seq, head.entry_hash = seq, digest
    head.save(update_fields=["seq", "entry_hash"])
    return entry


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
        head = _locked_head()
        return _append(
            head,
            actor_id=getattr(actor, "pk", None),
            actor_label=actor_label,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            names=sorted(set(fields)),
        )


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
    if head is None:
        if count:
            return ChainReport(
                False, count, prev, "the head row is missing: it was deleted", bad_seq=count
            )
        return ChainReport(True, 0, prev)
    if count > head.seq:
        extra = AuditEntry.objects.filter(seq=head.seq + 1).first()
        return ChainReport(
            False,
            count,
            prev,
            f"entry #{head.seq + 1} (id {extra.pk if extra else '?'}) and later were added "
            f"behind the log's back: the head records #{head.seq}",
            bad_seq=head.seq + 1,
            bad_id=extra.pk if extra else None,
        )
    if count < head.seq:
        return ChainReport(
            False,
            count,
            prev,
            f"the chain ends at #{count} but the head records #{head.seq}: "
            "entries were removed from the end",
            bad_seq=count + 1,
        )
    if head.entry_hash != prev:
        return ChainReport(
            False,
            count,
            prev,
            "the head hash does not match the chain: the head row was changed",
            bad_seq=count,
        )
    return ChainReport(True, count, prev)
