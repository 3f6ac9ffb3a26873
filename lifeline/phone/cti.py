"""The generic CTI contract: the PBX posts ``newCall``, ``answer`` and ``hangup`` events.

Authentication: headers ``X-Lifeline-Pbx`` (the PBX's name), ``X-Lifeline-Timestamp`` (Unix
seconds) and ``X-Lifeline-Signature`` = hex HMAC-SHA256(secret, "<timestamp>.<body>"); stale
timestamps are refused. Each (callId, event) is applied once; a replay gets the same answer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from lifeline.audit.services import audit_record
from lifeline.contacts import blocks
from lifeline.contacts.models import Identity
from lifeline.core import crypto
from lifeline.core.channels import Channel
from lifeline.core.models import User
from lifeline.core.parsing import clean_text
from lifeline.stats.services import stat_record

from .models import BlockRule, Call, CallStatus

EVENTS = frozenset({"newCall", "answer", "hangup"})

# Checked with ASCII classes: ``str.isdigit()`` accepts "²", which ``int()`` then refuses.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
# What a PBX uses as a call id (Asterisk: "1700000000.42"; others: UUIDs): printable ASCII.
_CALL_ID = re.compile(r"[\x21-\x7e]{1,64}")
MAX_NUMBER_LENGTH = 64
# A blocked prefix: ASCII digits, an optional "+", within BlockRule.prefix (16 characters).
_PREFIX = re.compile(r"\+?[0-9]{1,15}")


class CtiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def pbx_secrets() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in settings.LIFELINE_PBX_SECRETS.split(","))):
        name, _sep, secret = part.partition(":")
        if name and secret:
            out[name] = secret.encode()
    return out


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def authenticate(headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
    """The PBX's name, or CtiError(401/403)."""
    name = headers.get("X-Lifeline-Pbx", "")
    timestamp = headers.get("X-Lifeline-Timestamp", "")
    signature = headers.get("X-Lifeline-Signature", "").lower()
    secret = pbx_secrets().get(name)
    if secret is None or not _TIMESTAMP.fullmatch(timestamp) or not signature:
        raise CtiError(401, "unknown PBX or missing signature headers")
    if abs((now or time.time()) - int(timestamp)) > settings.LIFELINE_CTI_MAX_SKEW:
        raise CtiError(401, "stale timestamp")
    # Both sides are ASCII hex from here on (compare_digest refuses other str).
    if not _SIGNATURE.fullmatch(signature) or not hmac.compare_digest(
        sign(secret, timestamp, body), signature
    ):
        raise CtiError(403, "bad signature")
    return name


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]


def _phone_index(number: str) -> str:
    try:
        return crypto.phone_index(number)
    except crypto.BlindIndexError:
        return ""


def _phone_indexes(number: str) -> list[str]:
    """The number's blind index under every active key (more than one during a rotation)."""
    try:
        return crypto.lookup(crypto.phone_index, number)
    except crypto.BlindIndexError:
        return []


def is_blocked(number: str) -> bool:
    indexes = _phone_indexes(number)
    if any(blocks.blocked(Channel.PHONE, i) for i in indexes):  # for a time, from his calls
        return True
    if indexes:
        rules = BlockRule.objects.filter(number_index__in=indexes)
        if rules.exists():
            # A blind-index key rotation: the rule moves to the newest key's index now that
            # the number is here to compute it from.
            rules.exclude(number_index=indexes[0]).update(
                number_index=indexes[0], index_key=crypto.blind_index_key_id()
            )
            return True
    try:
        normalised = crypto.normalise_phone(number)
    except crypto.BlindIndexError:
        normalised = number
    return any(normalised.startswith(rule.prefix) for rule in BlockRule.objects.exclude(prefix=""))


def handle(pbx: str, data: Any) -> Answer:
    """Apply one event; raises CtiError(400) for a malformed one."""
    if not isinstance(data, dict):
        raise CtiError(400, "the body is a JSON object")
    event, call_id = data.get("event"), data.get("callId")
    if not isinstance(event, str) or event not in EVENTS:
        raise CtiError(400, f"event must be one of {', '.join(sorted(EVENTS))}")
    if not isinstance(call_id, str) or not _CALL_ID.fullmatch(call_id):
        raise CtiError(400, "callId is 1 to 64 printable ASCII characters")
    external_id = f"{pbx}:{call_id}:{event}"
    if len(external_id) > 128:  # the PBX's configured name is long
        raise CtiError(400, "callId is too long for this PBX's name")
    from lifeline.channels.inbox import inbound_store

    stored = inbound_store(
        channel=Channel.PHONE,
        external_id=external_id,
        payload=None,
        ordering_key=f"cti:{pbx}",
    )
    if not stored.created and stored.event.status == "done":
        return _duplicate(pbx, call_id)
    # A stored event that is not done failed before (a database error rolled its effect back):
    # this delivery applies it, once.
    with transaction.atomic():
        record = type(stored.event).objects.select_for_update().get(pk=stored.event.pk)
        if record.status == "done":
            return _duplicate(pbx, call_id)
        record.status = "done"
        record.save(update_fields=["status"])
        if event == "newCall":
            return _new_call(pbx, call_id, data)
        call = Call.objects.select_for_update().filter(pbx=pbx, call_id=call_id).first()
        if call is None:
            raise CtiError(400, f"no newCall seen for callId {call_id}")
        if event == "answer":
            return _answer(call, data)
        return _hangup(call, data)


def _duplicate(pbx: str, call_id: str) -> Answer:
    call = Call.objects.filter(pbx=pbx, call_id=call_id).first()
    rejected = call is not None and call.status == CallStatus.REJECTED
    return Answer(
        {
            "ok": True,
            "duplicate": True,
            **({"action": "reject", "reason": "busy"} if rejected else {}),
        }
    )


def _new_call(pbx: str, call_id: str, data: dict[str, Any]) -> Answer:
    number = data.get("from")
    if not number:
        raise CtiError(400, "newCall needs 'from'")
    if not isinstance(number, str | int) or isinstance(number, bool):
        raise CtiError(400, "'from' is a phone number")
    number = clean_text(number, max_length=MAX_NUMBER_LENGTH + 1)
    if not number or len(number) > MAX_NUMBER_LENGTH:
        raise CtiError(400, "'from' is a phone number")
    now = timezone.now()
    direction = clean_text(data.get("direction") or "in", max_length=8)
    inbound = direction == "in"  # an outbound leg (a call back) is not a call received
    blocked = inbound and is_blocked(number)
    index = _phone_index(number)
    identity = (
        Identity.objects.filter(
            channel=Channel.PHONE, address_index__in=_phone_indexes(number)
        ).first()
        if index
        else None
    )
    try:
        with transaction.atomic():
            Call.objects.create(
                call_id=call_id,
                pbx=pbx,
                direction=direction,
                caller=number,
                caller_index=index,
                line=clean_text(data.get("to") or "", max_length=32),
                queue=clean_text(data.get("queue") or "", max_length=64),
                ringing_at=now,
                contact=identity.contact if identity else None,
                status=CallStatus.REJECTED if blocked else CallStatus.RINGING,
            )
    except IntegrityError:
        raise CtiError(400, f"callId {call_id} was already used") from None
    if blocked:
        stat_record(kind="call.blocked", channel=Channel.PHONE, at=now)
        return Answer({"ok": True, "action": "reject", "reason": "busy"})
    if inbound:
        stat_record(kind="call.received", channel=Channel.PHONE, at=now)
        if index and identity is None and not _rang_before(_phone_indexes(number), call_id):
            # A number never heard before is a first contact, as a new chat is.
            stat_record(kind="contact.new", channel=Channel.PHONE, at=now)
    return Answer({"ok": True, "action": "accept"})


def _rang_before(indexes: list[str], call_id: str) -> bool:
    return (
        Call.objects.filter(caller_index__in=indexes, direction="in")
        .exclude(call_id=call_id)
        .exclude(status=CallStatus.REJECTED)
        .exists()
    )


def _answer(call: Call, data: dict[str, Any]) -> Answer:
    if call.status != CallStatus.RINGING:
        raise CtiError(400, f"call {call.call_id} is {call.status}, not ringing")
    now = timezone.now()
    username = clean_text(data.get("user") or "", max_length=150)
    call.answered_by = User.objects.filter(username=username, is_active=True).first()
    call.answered_at = now
    call.status = CallStatus.ANSWERED
    call.save(update_fields=["answered_by", "answered_at", "status"])
    if call.direction == "in":
        stat_record(
            kind="call.answered",
            channel=Channel.PHONE,
            value=int((now - call.ringing_at).total_seconds()),
            at=now,
        )
    return Answer({"ok": True})


def _hangup(call: Call, data: dict[str, Any]) -> Answer:
    now = timezone.now()
    call.cause = clean_text(data.get("cause") or "", max_length=64)
    call.ended_at = now
    if call.status == CallStatus.RINGING:
        call.status = CallStatus.MISSED
        if call.direction == "in":
            stat_record(kind="call.missed", channel=Channel.PHONE, at=now)
    elif call.status == CallStatus.ANSWERED:
        call.status = CallStatus.ENDED
        if call.direction == "in":
            stat_record(
                kind="call.ended",
                channel=Channel.PHONE,
                value=int((now - (call.answered_at or now)).total_seconds()),
                at=now,
            )
    call.save(update_fields=["cause", "ended_at", "status"])
    return Answer({"ok": True})


def block_number(*, actor: User, number: str = "", prefix: str = "", note: str = "") -> BlockRule:
    """A supervisor blocks one number or a prefix (audited)."""
    from django.core.exceptions import PermissionDenied

    from lifeline.core.models import Role

    if actor.role != Role.SUPERVISOR or not actor.is_active:
        raise PermissionDenied
    note = clean_text(note, max_length=200)
    if number:
        index = _phone_index(clean_text(number, max_length=MAX_NUMBER_LENGTH))
        if not index:
            raise ValueError("not a phone number")
        rule = BlockRule.objects.create(
            number_index=index,
            index_key=crypto.blind_index_key_id(),
            note=note,
            created_by=actor,
        )
    elif prefix and _PREFIX.fullmatch(prefix):
        rule = BlockRule.objects.create(
            prefix=prefix if prefix.startswith("+") else f"+{prefix}",
            note=note,
            created_by=actor,
        )
    else:
        raise ValueError("give a number or a prefix of digits")
    audit_record(
        actor=actor,
        action="phone.blocked",
        object_type="block_rule",
        object_id=rule.pk,
        fields=["number" if number else "prefix"],
    )
    return rule
