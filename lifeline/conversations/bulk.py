"""The bot's usual step for many people at once: the worker's hot path.

Most of what people write to the bot is the answer to its current question, or ``/start``: the
flow takes the answer and asks the next question. :func:`conversation_inputs` does exactly what
:func:`~lifeline.conversations.host.conversation_input` does for such a step — the same rows,
the same texts, the same statistics — for a batch of people, reading their identities,
conversations and runs in three queries and writing each table once (:mod:`lifeline.core.bulk`),
instead of some fifteen ORM statements a person.

Anything else is left to the host, one person at a time (``None`` in the result): a command other
than /start, a conversation with an operator (or waiting for one) or with a command to confirm,
the code words, "I am at the front", a flow version that is not on disk, and any step whose flow
asks the host to act (open an application, hand over, jump to another flow, ...). Those are the
rare steps; the rules for them stay in one place. ``tests/conversations/test_bulk.py`` runs the
same conversations both ways and compares every row.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from lifeline.contacts.models import Contact, Identity, identity_index
from lifeline.core import bulk, crypto, keystore, limits
from lifeline.stats.models import StatEvent
from lifeline.stats.services import COUNTED_PAGES

from . import host
from .delivery import Reply
from .engine import runner
from .engine.model import Flow
from .models import (
    Conversation,
    ConversationStatus,
    Direction,
    FlowRun,
    FlowRunStatus,
    Message,
)


@dataclass(frozen=True)
class TextInput:
    """What one person wrote, on one channel, from one address (e.g. a Telegram user id)."""

    channel: str
    address: str
    language: str  # his interface language: a new contact's language
    text: str


@dataclass
class Stepped:
    """A person's step, taken: the conversation and the replies (stored in the transcript,
    with their rows' ids), for the channel to queue."""

    conversation: Conversation
    replies: list[Reply]


@dataclass
class _Plan:
    """One person's step as planned before anything is written."""

    given: TextInput
    text: str
    identity_id: uuid.UUID
    contact_id: uuid.UUID
    conversation: Conversation
    new_contact: Contact | None = None
    new_identity: Identity | None = None
    new_conversation: bool = False
    cancel_runs: bool = False
    entry_page: str = ""
    run_id: uuid.UUID | None = None  # an existing run fed this input
    new_run: FlowRun | None = None  # a run started by this input
    state: runner.RunState | None = None
    replies: list[Reply] = field(default_factory=list)


def _start(flow: Flow, conversation: Conversation, now: datetime) -> runner.Step:
    return runner.start(flow, language=conversation.language, now=now, channel=conversation.channel)


def _simple(step: runner.Step) -> bool:
    """A step that only says things: no action for the host, and the run waits for the next
    answer or has reached its end."""
    return not step.actions and step.state.status in (runner.WAITING_INPUT, runner.ENDED)


def _replies(step: runner.Step) -> list[Reply]:
    # As the host's _fill with no host values: a flow text shows no secret here.
    return [Reply(m.text, m.buttons) for m in step.messages]


def _latest(rows: Sequence[Any], key: str, when: str) -> dict[Any, Any]:
    found: dict[Any, Any] = {}
    for row in rows:
        kept = found.get(getattr(row, key))
        if kept is None or getattr(row, when) > getattr(kept, when):
            found[getattr(row, key)] = row
    return found


def conversation_inputs(inputs: Sequence[TextInput]) -> list[Stepped | None]:
    """Take the usual step for each input (each from a different address) in bulk; ``None``
    where the host must take it (:func:`host.conversation_input`). Runs inside the caller's
    transaction, and locks the conversations and runs it reads until that ends."""
    now = timezone.now()
    compiled = host._compile()
    entry = host.current_flow(host.ENTRY_FLOW)  # its version recorded, as start_flow does
    # Each address under every active blind-index key (one, but for a key rotation).
    lookups = [crypto.lookup(identity_index, i.channel, i.address) for i in inputs]
    channel_of = {
        index: i.channel for i, found in zip(inputs, lookups, strict=True) for index in found
    }
    identities = {
        ident.address_index: ident
        for ident in Identity.objects.filter(address_index__in=list(channel_of))
        .select_related("contact")
        .only("id", "channel", "address_index", "contact_id", "contact__language")
    }
    known = [
        ident for ident in identities.values() if ident.channel == channel_of[ident.address_index]
    ]
    conversations = _latest(
        list(
            Conversation.objects.select_for_update(of=("self",))
            .filter(identity__in=known)
            .exclude(status=ConversationStatus.CLOSED)
            .order_by("pk")  # one lock order for every worker
        ),
        "identity_id",
        "created_at",
    )
    runs = _latest(
        list(
            FlowRun.objects.select_for_update()
            .filter(conversation__in=list(conversations.values()), status=FlowRunStatus.ACTIVE)
            .order_by("pk")
        ),
        "conversation_id",
        "started_at",
    )
    plans: list[_Plan | None] = []
    for given, found in zip(inputs, lookups, strict=True):
        identity = next((identities[i] for i in found if i in identities), None)
        if identity is not None and identity.channel != given.channel:
            plans.append(None)
            continue
        plans.append(_plan(given, identity, conversations, runs, compiled.flows, entry, now))
    _write([p for p in plans if p is not None], now)
    return [Stepped(p.conversation, p.replies) if p is not None else None for p in plans]


def _plan(
    given: TextInput,
    identity: Identity | None,
    conversations: dict[Any, Conversation],
    runs: dict[Any, FlowRun],
    flows: dict[str, Flow],
    entry: Flow,
    now: datetime,
) -> _Plan | None:
    text = (given.text or "").strip()
    command, _sep, argument = text.partition(" ")
    command = command.lower().split("@")[0]
    if text.startswith("/") and command != "/start":
        return None  # /lang, /forget and the rest: the host
    if identity is None:
        contact = Contact(language=given.language)
        new_identity = Identity(contact=contact, channel=given.channel, address=given.address)
        conversation = Conversation(
            contact=contact, identity=new_identity, channel=given.channel, language=given.language
        )
        plan = _Plan(
            given,
            text,
            new_identity.pk,
            contact.pk,
            conversation,
            new_contact=contact,
            new_identity=new_identity,
            new_conversation=True,
        )
        run = None
    else:
        open_one = conversations.get(identity.pk)
        new = open_one is None
        conversation = open_one or Conversation(
            contact_id=identity.contact_id,
            identity_id=identity.pk,
            channel=given.channel,
            language=identity.contact.language or given.language,
        )
        if conversation.status != ConversationStatus.BOT or conversation.pending_command:
            return None  # a human has it, or a command waits for his answer
        run = runs.get(conversation.pk) if not new else None
        plan = _Plan(
            given,
            text,
            identity.pk,
            identity.contact_id,
            conversation,
            new_conversation=new,
        )
    if command == "/start":
        payload = argument.strip()
        if payload.startswith("site-") and payload.removeprefix("site-") in COUNTED_PAGES:
            plan.entry_page = payload
        plan.cancel_runs = run is not None
        return _started(plan, entry, now)
    if run is None:
        if identity is not None or host.is_stage2_phrase(text):
            # An earlier contact without a run may have an application open ("what now?"),
            # and "I am at the front" starts stage 2: the host's rules.
            return None
        return _started(plan, entry, now)
    if not run.state:
        return None
    state = runner.RunState.from_dict(run.state)
    flow = flows.get(run.flow)
    if flow is None or flow.version != run.version:
        return None  # a run pinned to an older version of its flow
    node = flow.nodes.get(state.node) if state.node else None
    if node is not None and node.result in host.SECRET_RESULTS:
        return None  # the code words are never stored, not even encrypted
    if run.flow in host.ENTRY_POINTS and state.node == flow.start and host.is_stage2_phrase(text):
        return None
    step = runner.handle(flow, state, text, now=now)
    if not _simple(step):
        return None
    plan.run_id = run.pk
    plan.state = step.state
    plan.replies = _replies(step)
    return plan


def _started(plan: _Plan, entry: Flow, now: datetime) -> _Plan | None:
    step = _start(entry, plan.conversation, now)
    if not _simple(step):
        return None
    if plan.new_contact is not None and not limits.budget(
        "flow_start", channel=plan.conversation.channel
    ):
        return None  # a new person's first flow: the host defers it (host._take_flow_start)
    plan.new_run = FlowRun(conversation=plan.conversation, flow=entry.name, version=entry.version)
    plan.state = step.state
    plan.replies = _replies(step)
    return plan


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _stat(kind: str, channel: str, language: str, at: datetime) -> dict[str, Any]:
    return {
        "kind": kind,
        "channel": channel,
        "language": language,
        "hour": _hour(at),
        "value": None,
        "rolled": False,
    }


def _run_status(state: runner.RunState) -> str:
    return FlowRunStatus.ACTIVE if state.status == runner.WAITING_INPUT else FlowRunStatus.ENDED


def _write(plans: list[_Plan], now: datetime) -> None:
    """Every plan's rows, a statement per table and kind of change."""
    if not plans:
        return
    contacts, identities, conversations, stats = [], [], [], []
    new_runs, fed_runs, messages = [], [], []
    # A new person's address is sealed under his own data key, a transcript under its
    # conversation's (lifeline.core.keystore): the new ones get theirs in one write to the key
    # store; the others' are named by the conversation rows this transaction has locked.
    newcomers = [p.new_contact for p in plans if p.new_contact is not None]
    started = [p.conversation for p in plans if p.new_conversation]
    keystore.new_keys_for([*newcomers, *started])
    for plan in plans:
        conversation = plan.conversation
        key = keystore.key_of(conversation)
        channel, language = conversation.channel, conversation.language
        if plan.new_contact is not None and plan.new_identity is not None:
            contacts.append(
                {
                    "id": plan.new_contact.pk,
                    "kind": plan.new_contact.kind,
                    "language": plan.new_contact.language,
                    "created_at": now,
                    "data_key": plan.new_contact.data_key,
                }
            )
            identity = plan.new_identity
            identities.append(
                {
                    "id": identity.pk,
                    "contact": plan.new_contact.pk,
                    "channel": identity.channel,
                    "address": bulk.seal(
                        Identity,
                        "address",
                        identity.pk,
                        identity.address,
                        keystore.key_of(plan.new_contact),
                    ),
                    "address_index": identity_index(identity.channel, identity.address),
                    "device_tag": "",
                    "device_tag_at": None,
                    "created_at": now,
                }
            )
            stats.append(_stat("contact.new", identity.channel, plan.new_contact.language, now))
        if plan.new_conversation:
            conversation.created_at = now
            conversations.append(
                {
                    "id": conversation.pk,
                    "contact": plan.contact_id,
                    "identity": plan.identity_id,
                    "channel": channel,
                    "language": language,
                    "status": ConversationStatus.BOT,
                    "assignee": None,
                    "created_at": now,
                    "last_message_at": now,
                    "waiting_since": None,
                    "priority": 0,
                    "waiting_reason": "",
                    "pending_command": "",
                    "read_at": None,
                    "unread": 0,
                    "data_key": conversation.data_key,
                }
            )
        conversation.last_message_at = now
        # The transcript: his message, then the bot's replies, a microsecond apart in order.
        incoming = uuid.uuid4()
        messages.append(
            _message(incoming, conversation.pk, Direction.IN, plan.text, None, now, key)
        )
        stats.append(_stat("message.in", channel, language, now))
        if plan.entry_page:
            stats.append(_stat(f"entry.{plan.entry_page}", channel, language, now))
        stored = []
        for n, reply in enumerate(plan.replies, start=1):
            row = uuid.uuid4()
            buttons = list(reply.buttons) or None
            at = now + timedelta(microseconds=n)
            messages.append(
                _message(row, conversation.pk, Direction.OUT, reply.stored_text, buttons, at, key)
            )
            stored.append(Reply(reply.text, reply.buttons, message_id=row))
        plan.replies = stored
        assert plan.state is not None  # noqa: S101 - set by every plan
        status = _run_status(plan.state)
        state = plan.state.to_dict() if status == FlowRunStatus.ACTIVE else None
        if plan.new_run is not None:
            run = plan.new_run
            new_runs.append(
                {
                    "id": run.pk,
                    "conversation": conversation.pk,
                    "operator": None,
                    "flow": run.flow,
                    "version": run.version,
                    "status": status,
                    "state": bulk.seal(FlowRun, "state", run.pk, state, key),
                    "case": None,
                    "failed_reidentifications": 0,
                    "reidentified_by": "",
                    "started_at": now,
                    "updated_at": now,
                }
            )
        elif plan.run_id is not None:
            fed_runs.append(
                {
                    "pk": plan.run_id,
                    "status": status,
                    "state": bulk.seal(FlowRun, "state", plan.run_id, state, key),
                    "updated_at": now,
                }
            )
    bulk.insert(Contact, contacts)
    bulk.insert(Identity, identities)
    bulk.insert(Conversation, conversations)
    known = [p.conversation.pk for p in plans if not p.new_conversation]
    if known:
        Conversation.objects.filter(pk__in=known).update(last_message_at=now)
    cancelled = [p.conversation.pk for p in plans if p.cancel_runs]
    if cancelled:
        FlowRun.objects.filter(Q(conversation__in=cancelled), status=FlowRunStatus.ACTIVE).update(
            status=FlowRunStatus.CANCELLED, state=None
        )
    bulk.insert(FlowRun, new_runs)
    bulk.update(FlowRun, fed_runs)
    bulk.insert(Message, messages)
    bulk.insert(StatEvent, stats)


def _message(
    pk: uuid.UUID,
    conversation: uuid.UUID,
    direction: str,
    text: str,
    buttons: list[str] | None,
    at: datetime,
    key: keystore.DataKey,
) -> dict[str, Any]:
    return {
        "id": pk,
        "conversation": conversation,
        "direction": direction,
        "text": bulk.seal(Message, "text", pk, text, key),
        "buttons": bulk.seal(Message, "buttons", pk, buttons, key),
        "sender": None,
        "created_at": at,
    }
