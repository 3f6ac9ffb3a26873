"""The Django host of the conversation engine.

Channels (Telegram, web chat) and the console call :func:`conversation_input` with what the
person wrote; it answers global commands (/start, /lang, /forget), feeds the active flow run,
applies the actions the flow asks for through the cases services, stores every message, and
returns the replies to send. The engine itself never touches the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from lifeline.audit.services import audit_record
from lifeline.cases import codenames, workflow
from lifeline.cases.errors import CaseError
from lifeline.cases.models import Case
from lifeline.contacts.models import identity_index
from lifeline.core import crypto, keystore, limits
from lifeline.core.models import User
from lifeline.stats.services import COUNTED_PAGES, stat_record

from .delivery import Reply, erase_channels
from .engine import LANGUAGES, runner
from .engine.inputs import is_yes
from .engine.loader import load_flows, parse_flow
from .engine.model import OPERATIONS, Flow
from .models import (
    Conversation,
    ConversationStatus,
    Direction,
    FlowRun,
    FlowRunStatus,
    FlowVersion,
    Message,
    Note,
    WaitingReason,
)

ENTRY_FLOW = "soldier_intake"
STAGE2_FLOW = "front_contact"
#: Flows whose first question is an entry point: the stage-2 phrase typed there starts stage 2.
ENTRY_POINTS = frozenset({"soldier_intake", "relative_intake", "advice"})
#: "I am at the front, I want to surrender" — the words the bot tells him to write, and close
#: variants, in the three languages (compared after casefold, ё→е and punctuation removed).
STAGE2_PHRASES = (
    "я на фронте",
    "я уже на фронте",
    "я на передовой",
    "хочу сдаться",
    "хочу сдатся",
    "хочу в плен",
    "я на фронті",
    "я вже на фронті",
    "хочу здатися",
    "хочу здатись",
    "хочу в полон",
    "i am at the front",
    "im at the front",
    "i am on the front",
    "want to surrender",
)
#: Case states in which a message after the application is about that application.
OPEN_APPLICATION = frozenset({"applied", "verified", "ready", "operation"})
#: Case fields set after the case is opened (case_create does not take them).
LATER_FIELDS = frozenset({"urgency", "callback_phone"})
#: relative_intake's "how can he be reached" answer, as the case's phone situation.
REACH_TO_PHONE = {
    "own_phone": "own_phone",
    "second_phone": "second_phone",
    "via_relative": "via_relative",
    "no_contact": "no_phone",
}
MAX_REIDENTIFY_FAILURES = 3
#: Flow results that are secrets: what a person types for them is never stored, and a reply
#: that shows one is stored (in Message, in a sent OutboundMessage) only as a placeholder.
SECRET_RESULTS = frozenset({"codename"})


@dataclass
class _Context:
    """What the host learns while applying actions: filled into later messages."""

    values: dict[str, str] = field(default_factory=dict)
    secret_values: set[str] = field(default_factory=set)
    replies: list[Reply] = field(default_factory=list)


def shown_once_placeholder() -> str:
    return _("[code words: shown once, not kept]")


class FlowVersionConflict(Exception):
    """A flow file changed but kept its version number: runs could not be pinned."""


# --- Flows and their pinned versions -----------------------------------------------------


def _flows_dir() -> Path:
    return Path(settings.LIFELINE_FLOWS_DIR)


@dataclass(frozen=True)
class _Compiled:
    digest: str
    flows: dict[str, Flow]
    sources: dict[str, tuple[str, str]]  # name -> (source, sha256)


_compiled: _Compiled | None = None
#: (path, size, mtime) of every flow file when they were last read: while it is unchanged the
#: files are not read again, so a step costs one directory listing, not five reads and a hash.
_signature: tuple[tuple[str, int, int], ...] | None = None


def _files_signature(files: list[Path]) -> tuple[tuple[str, int, int], ...]:
    found = []
    for path in files:
        stat = path.stat()
        found.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def _compile() -> _Compiled:
    """The flows on disk, parsed and validated once per content: a changed file (any byte)
    changes the digest and they are compiled again; otherwise the parsed flows are reused."""
    global _compiled, _signature
    files = sorted(_flows_dir().glob("*.yaml"))
    signature = _files_signature(files)
    if _compiled is not None and signature == _signature:
        return _compiled
    texts = {f.stem: f.read_text(encoding="utf-8") for f in files}
    digest = hashlib.sha256(
        "\0".join(f"{name}\0{text}" for name, text in texts.items()).encode()
    ).hexdigest()
    if _compiled is None or _compiled.digest != digest:
        flows = load_flows(_flows_dir())
        sources = {
            name: (text, hashlib.sha256(text.encode()).hexdigest()) for name, text in texts.items()
        }
        _compiled = _Compiled(digest, flows, sources)
    _signature = signature
    return _compiled


def current_flows() -> dict[str, Flow]:
    """The flows on disk, validated (compiled once per content) and recorded as versions."""
    compiled = _compile()
    for flow in compiled.flows.values():
        _record_version(flow, compiled)
    return compiled.flows


def current_flow(name: str) -> Flow:
    """One flow as on disk, its version recorded so that runs started on it stay on it."""
    compiled = _compile()
    flow = compiled.flows[name]
    _record_version(flow, compiled)
    return flow


def _record_version(flow: Flow, compiled: _Compiled) -> None:
    source, digest = compiled.sources[flow.name]
    existing = (
        FlowVersion.objects.filter(name=flow.name, version=flow.version)
        .values_list("sha256", flat=True)
        .first()
    )
    if existing is None:
        FlowVersion.objects.get_or_create(
            name=flow.name, version=flow.version, defaults={"source": source, "sha256": digest}
        )
    elif existing != digest:
        raise FlowVersionConflict(
            f"{flow.path} changed but is still version {flow.version}: raise 'version' so "
            "conversations in progress keep the version they started on"
        )


_pinned_cache: dict[tuple[str, int, str], Flow] = {}


def pinned_flow(name: str, version: int) -> Flow:
    """The flow exactly as it was when a run started on it."""
    compiled = _compile()
    current = compiled.flows.get(name)
    if current is not None and current.version == version:
        return current  # the usual case: the run is on the version on disk
    stored = FlowVersion.objects.get(name=name, version=version)
    key = (name, version, stored.sha256)
    if key not in _pinned_cache:
        names = {*compiled.flows, *FlowVersion.objects.values_list("name", flat=True).distinct()}
        _pinned_cache[key] = parse_flow(stored.source, f"{name}.yaml", names)
    return _pinned_cache[key]


# --- Entry point ------------------------------------------------------------------------


def conversation_input(
    conversation: Conversation, text: str, *, locked: bool = False
) -> list[Reply]:
    """The person wrote ``text``. Returns the replies, already stored as outbound messages.
    ``locked``: the caller read ``conversation`` with ``select_for_update`` in the transaction
    that is still open (the channel handlers do), so it is not read again."""
    text = (text or "").strip()
    with transaction.atomic():
        if not locked:
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        run = _active_run(conversation)
        secret_run = None if text.startswith("/") else _awaiting_secret(run)
        incoming = Message.objects.create(
            conversation=conversation,
            direction=Direction.IN,
            text=_("[code words entered]") if secret_run is not None else text,
        )
        conversation.last_message_at = timezone.now()
        conversation.save(update_fields=["last_message_at"])
        stat_record(
            kind="message.in",
            channel=conversation.channel,
            language=conversation.language,
            at=incoming.created_at,
        )
        with override(conversation.language):
            failures_before = secret_run.failed_reidentifications if secret_run else 0
            replies = _dispatch(conversation, text, run)
            if secret_run is not None:
                incoming.text = _secret_input_note(secret_run, failures_before)
                incoming.save(update_fields=["text"])
        count_unread(conversation)
        return store_replies(conversation, replies)


def count_unread(conversation: Conversation) -> None:
    """One more message of his for a human, if a human is (or is about to be) on it."""
    if conversation.status in (ConversationStatus.WAITING, ConversationStatus.ACTIVE):
        Conversation.objects.filter(pk=conversation.pk).update(unread=F("unread") + 1)


def store_replies(conversation: Conversation, replies: list[Reply]) -> list[Reply]:
    """Add the replies to the transcript (a secret one as its placeholder); returns them with
    their transcript rows' ids."""
    stored = []
    for reply in replies:
        message = Message.objects.create(
            conversation=conversation,
            direction=Direction.OUT,
            text=reply.stored_text,
            buttons=list(reply.buttons) or None,
        )
        stored.append(dataclasses.replace(reply, message_id=message.pk))
    return stored


def _awaiting_secret(run: FlowRun | None) -> FlowRun | None:
    """The active run, if its question is one whose answer is a secret (the code words)."""
    if run is None or not run.state:
        return None
    node_name = runner.RunState.from_dict(run.state).node
    flow = pinned_flow(run.flow, run.version)
    node = flow.nodes.get(node_name) if node_name else None
    if node is None or node.result not in SECRET_RESULTS:
        return None
    return run


def _secret_input_note(run: FlowRun, before: int) -> str:
    """What the transcript keeps of typed code words: whether they matched, never the words.
    ``before``: the run's failed attempts before these words were checked."""
    run.refresh_from_db(fields=["failed_reidentifications", "reidentified_by", "status"])
    if run.reidentified_by:
        return _("[code words entered — matched]")
    if run.failed_reidentifications > before:
        return _("[code words entered — not matched]")
    return _("[code words entered — not checked]")


def _count_entry(conversation: Conversation, payload: str) -> None:
    """A link from a page of the site (``/start site-home``): counted, nothing else kept. Only
    the site's own pages: anything else typed after /start makes no statistics kind."""
    if payload.startswith("site-") and payload.removeprefix("site-") in COUNTED_PAGES:
        stat_record(
            kind=f"entry.{payload}", channel=conversation.channel, language=conversation.language
        )


def _dispatch(conversation: Conversation, text: str, run: FlowRun | None) -> list[Reply]:
    """``run`` is the conversation's active run, already read (and locked) by the caller."""
    command, _sep, argument = text.partition(" ")
    command = command.lower().split("@")[0]  # Telegram adds @botname in groups
    if conversation.pending_command == "forget":
        return _confirm_forget(conversation, text)
    if command == "/start":
        _take_flow_start(conversation)
        _count_entry(conversation, argument.strip())
        _cancel_runs(conversation)
        return start_flow(conversation, ENTRY_FLOW)
    if command == "/lang":
        return _change_language(conversation, argument.strip().lower())
    if command == "/forget":
        conversation.pending_command = "forget"
        conversation.save(update_fields=["pending_command"])
        return [
            Reply(
                _(
                    "This will erase what you told us: your application and this conversation. "
                    "It cannot be undone. Erase everything?"
                ),
                (_("Yes, erase"), _("No, keep it")),
            )
        ]
    at_entry = run is None or (
        run.flow in ENTRY_POINTS
        and runner.RunState.from_dict(run.state).node == pinned_flow(run.flow, run.version).start
    )
    if at_entry and is_stage2_phrase(text):
        if conversation.status in (ConversationStatus.WAITING, ConversationStatus.ACTIVE):
            _mark_waiting_reason(conversation, WaitingReason.FRONT_UNVERIFIED, priority=1)
            return []  # an operator has the conversation: he now sees it is about the front
        _cancel_runs(conversation)  # (stage 2 never waits for the flow-start budget)
        return start_flow(conversation, STAGE2_FLOW)
    if run is None:
        if conversation.status in (ConversationStatus.WAITING, ConversationStatus.ACTIVE):
            return []  # an operator has the conversation: the message waits for them
        if _has_open_application(conversation):
            # He applied and writes again ("what now?"): an operator answers, no restart.
            _handoff(conversation, priority=0, reason=WaitingReason.AFTER_APPLICATION)
            return [
                Reply(
                    _(
                        "Thank you, we have your message. An operator will answer you here "
                        "as soon as possible. If you are at the front and want to surrender, "
                        "write: I am at the front. To start over, write /start."
                    )
                )
            ]
        _take_flow_start(conversation)
        return start_flow(conversation, ENTRY_FLOW)
    return _feed(run, conversation, text)


#: A step that found the flow-start budget spent comes back when the window turns, within this.
FLOW_START_SPREAD_SECONDS = 10.0


def _take_flow_start(conversation: Conversation) -> None:
    """A person's first flow takes one unit of the global flow-start budget, from his channel's
    share; raises :class:`limits.Deferred` (the caller keeps the message for later) when it is
    spent. Someone who talked to the bot before (a /start, a new conversation after a closed
    one) takes none — his own per-sender limit bounds him — and "I am at the front" never
    waits."""
    if FlowRun.objects.filter(conversation__contact_id=conversation.contact_id).exists():
        return
    if not limits.budget("flow_start", channel=conversation.channel):
        _units, seconds = settings.LIFELINE_BUDGETS["flow_start"]
        # Spread over the next window's first seconds, so that the waiting do not all come back
        # at once and spend it again in its first instant.
        wait = limits.seconds_left(seconds) + random.uniform(0, FLOW_START_SPREAD_SECONDS)  # noqa: S311
        raise limits.Deferred("flow_start", wait)


def is_stage2_phrase(text: str) -> bool:
    """Whether free text says "I am at the front / I want to surrender" (any of ru, uk, en)."""
    folded = text.casefold().replace("ё", "е").replace("’", "").replace("'", "")
    words = " ".join("".join(c if c.isalnum() else " " for c in folded).split())
    return any(phrase in words for phrase in STAGE2_PHRASES)


def _has_open_application(conversation: Conversation) -> bool:
    return Case.objects.filter(
        requester_id=conversation.contact_id, status__in=OPEN_APPLICATION
    ).exists()


def _active_run(conversation: Conversation) -> FlowRun | None:
    return (
        FlowRun.objects.select_for_update()
        .filter(conversation=conversation, status=FlowRunStatus.ACTIVE)
        .order_by("-started_at")
        .first()
    )


def _cancel_runs(conversation: Conversation) -> None:
    FlowRun.objects.filter(conversation=conversation, status=FlowRunStatus.ACTIVE).update(
        status=FlowRunStatus.CANCELLED, state=None
    )


# --- Running flows ----------------------------------------------------------------------


def start_flow(
    conversation: Conversation | None,
    name: str,
    *,
    language: str | None = None,
    results: dict[str, Any] | None = None,
    operator: User | None = None,
    case: Case | None = None,
) -> list[Reply]:
    flow = current_flow(name)
    lang = language or (conversation.language if conversation else "ru")
    run = FlowRun(
        conversation=conversation,
        operator=operator,
        flow=flow.name,
        version=flow.version,
        case=case,
    )
    step = runner.start(
        flow,
        language=lang,
        now=timezone.now(),
        results=results,
        channel=conversation.channel if conversation is not None else "phone",
    )
    if conversation is not None and conversation.status == ConversationStatus.CLOSED:
        conversation.status = ConversationStatus.BOT
        conversation.save(update_fields=["status"])
    return _apply(run, flow, step, conversation)


def _feed(run: FlowRun, conversation: Conversation | None, text: str) -> list[Reply]:
    flow = pinned_flow(run.flow, run.version)
    state = runner.RunState.from_dict(run.state)
    step = runner.handle(flow, state, text, now=timezone.now())
    return _apply(run, flow, step, conversation)


def run_input(run: FlowRun, text: str) -> list[Reply]:
    """Feed a run directly (the operator's phone script)."""
    with transaction.atomic():
        run = FlowRun.objects.select_for_update().get(pk=run.pk)
        return _feed(run, run.conversation, text)


def _apply(
    run: FlowRun, flow: Flow, step: runner.Step, conversation: Conversation | None
) -> list[Reply]:
    context = _Context()
    state = step.state
    for output in step.outputs:
        if isinstance(output, runner.Message):
            context.replies.append(_fill(output, context))
            continue
        follow_up = _action(run, flow, output, state, conversation, context)
        if follow_up is not None:
            return context.replies + follow_up
    if state.status == runner.WAITING_HOST:
        if run._state.adding:  # a flow that starts with an operation: the row must exist
            _save_run(run, _without_secrets(state))
        # Performed before the state is saved: the answers it reads (the typed code words)
        # are dropped by the operation and never written, not even encrypted.
        context.replies.extend(_operation(run, flow, state, conversation))
        return context.replies
    _save_run(run, state)
    return context.replies


def _without_secrets(state: runner.RunState) -> runner.RunState:
    results = {k: v for k, v in state.results.items() if k not in SECRET_RESULTS}
    return runner.RunState(**{**state.to_dict(), "results": results})


def _fill(output: runner.Message, context: _Context) -> Reply:
    """A flow message with the host's values filled in; one that shows a secret is marked."""
    text = placeholder = output.text
    secret = False
    for key, value in context.values.items():
        marker = "{" + key + "}"
        if marker not in text:
            continue
        text = text.replace(marker, value)
        if key in context.secret_values:
            secret = True
            placeholder = placeholder.replace(marker, shown_once_placeholder())
        else:
            placeholder = placeholder.replace(marker, value)
    return Reply(text, output.buttons, secret=secret, placeholder=placeholder if secret else "")


def _save_run(run: FlowRun, state: runner.RunState) -> None:
    status = {
        runner.WAITING_INPUT: FlowRunStatus.ACTIVE,
        runner.WAITING_HOST: FlowRunStatus.ACTIVE,
        runner.ENDED: FlowRunStatus.ENDED,
        runner.HANDED_OFF: FlowRunStatus.HANDED_OFF,
        runner.EXPIRED: FlowRunStatus.EXPIRED,
    }[state.status]
    run.status = status
    # Answers are kept only while the run is active: a finished run keeps no personal data.
    run.state = state.to_dict() if status == FlowRunStatus.ACTIVE else None
    run.save()


def _via(run: FlowRun) -> str:
    return f"flow:{run.flow}"


def _actor(run: FlowRun) -> User | None:
    return run.operator


def _case_fields(raw: dict[str, Any]) -> dict[str, Any]:
    fields = dict(raw)
    if isinstance(fields.get("birth_date"), str):
        fields["birth_date"] = date.fromisoformat(fields["birth_date"])
    for key in ("full_name", "service_number", "rank", "unit", "location"):
        value = fields.get(key)
        if isinstance(value, str) and value.strip().casefold() in {
            "нет",
            "ні",
            "no",
            "не знаю",
            "unknown",
            "не можу",
            "не могу",
            "cannot",
            "-",
        }:
            fields[key] = None
    return fields


@dataclass(frozen=True)
class _ActionCall:
    """What an action handler gets: the run, its flow and state, the action, the conversation
    and the step's context (values for the replies)."""

    run: FlowRun
    flow: Flow
    action: runner.Action
    state: runner.RunState
    conversation: Conversation | None
    context: _Context


def _action(
    run: FlowRun,
    flow: Flow,
    action: runner.Action,
    state: runner.RunState,
    conversation: Conversation | None,
    context: _Context,
) -> list[Reply] | None:
    """Apply one action. Returns replies to end the step early (e.g. a jump to another flow)."""
    if action.kind in OPERATIONS:
        return None  # a 'do' node: performed once the step is saved (see _operation)
    handler = ACTION_HANDLERS.get(action.kind)
    if handler is None:
        raise ValueError(f"unknown action {action.kind}")
    return handler(_ActionCall(run, flow, action, state, conversation, context))


def _act_start_flow(call: _ActionCall) -> list[Reply] | None:
    run = call.run
    action = call.action
    state = call.state
    conversation = call.conversation
    _save_run(run, state)
    return start_flow(
        conversation,
        str(action.params["flow"]),
        language=state.language,
        results=dict(action.params.get("results") or {}),
        operator=run.operator,
        case=run.case,
    )


def _act_expired(call: _ActionCall) -> list[Reply] | None:
    run = call.run
    state = call.state
    conversation = call.conversation
    _save_run(run, state)
    if conversation is None:
        return []
    with override(state.language):
        note = Reply(
            _("Our previous conversation was left unfinished for too long, so let us start again.")
        )
    return [note, *start_flow(conversation, ENTRY_FLOW, language=state.language)]


def _act_open_case(call: _ActionCall) -> list[Reply] | None:
    run = call.run
    action = call.action
    state = call.state
    conversation = call.conversation
    via = _via(call.run)
    fields = _case_fields(action.params.get("fields", {}))
    relation = fields.pop("requester_relation", None)
    reach = (action.params.get("results") or {}).get("reach")
    if reach and "phone_situation" not in fields:  # a relative told us how he is reached
        fields["phone_situation"] = REACH_TO_PHONE.get(str(reach), "unknown")
    fields = {k: v for k, v in fields.items() if k in workflow.UPDATABLE_FIELDS}
    try:
        run.case = workflow.case_create(
            actor=_actor(run),
            via="" if run.operator else via,
            channel=conversation.channel if conversation else "phone",
            language=state.language,
            requester=conversation.contact if conversation else None,
            requester_relation=relation or "self",
            intake_note=_unfit_note(action.params.get("results") or {}, state.language),
            **{k: v for k, v in fields.items() if k not in LATER_FIELDS},
        )
        later = {k: v for k, v in fields.items() if k in LATER_FIELDS and v}
        if later:
            workflow.case_update_fields(case=run.case, actor=_actor(run), via=via, fields=later)
    except CaseError:
        # Not enough to open an application (e.g. a relative who knows no name):
        # an operator takes over with what was said.
        _handoff(conversation, priority=0, reason=WaitingReason.HANDOFF)
    return None


def _act_update_case(call: _ActionCall) -> list[Reply] | None:
    run = call.run
    action = call.action
    via = _via(call.run)
    if run.case is not None:
        workflow.case_update_fields(
            case=run.case,
            actor=_actor(run),
            via=via,
            fields=_case_fields(action.params.get("fields", {})),
        )
    return None


def _act_issue_codename(call: _ActionCall) -> list[Reply] | None:
    run = call.run
    context = call.context
    if run.case is not None:
        words = codenames.generate()
        workflow.case_set_codename(case=run.case, codename=words)
        context.values["codename"] = words
        context.secret_values.add("codename")
    return None


def _act_mark_ready(call: _ActionCall) -> list[Reply] | None:
    run = call.run
    via = _via(call.run)
    if run.case is not None:
        # Not yet verified, say: the alert that follows brings an operator anyway.
        with contextlib.suppress(CaseError):
            workflow.case_mark_ready(
                case=run.case, actor=None, via=via, reidentified_by=run.reidentified_by or None
            )
    return None


def _act_alert(call: _ActionCall) -> list[Reply] | None:
    run = call.run
    state = call.state
    conversation = call.conversation
    reason = WaitingReason.FRONT if run.reidentified_by else WaitingReason.FRONT_UNVERIFIED
    _handoff(conversation, priority=1, reason=reason)
    stat_record(
        kind="conversation.alert",
        channel=conversation.channel if conversation else "phone",
        language=state.language,
    )
    return None


def _act_handoff(call: _ActionCall) -> list[Reply] | None:
    run = call.run
    conversation = call.conversation
    if run.flow == STAGE2_FLOW:  # stage 2 that the bot could not finish stays marked front
        reason = WaitingReason.FRONT if run.reidentified_by else WaitingReason.FRONT_UNVERIFIED
        _handoff(conversation, priority=1, reason=reason)
    else:
        _handoff(conversation, priority=0, reason=WaitingReason.HANDOFF)
    return None


def _act_set_language(call: _ActionCall) -> list[Reply] | None:
    action = call.action
    conversation = call.conversation
    if conversation is not None:
        _set_language(conversation, str(action.params["value"]))
    return None


#: The host's flow actions, one handler each (an operation — a 'do' node — is performed once
#: the step is saved, see :func:`_operation`).
ACTION_HANDLERS: dict[str, Callable[[_ActionCall], list[Reply] | None]] = {
    "start_flow": _act_start_flow,
    "expired": _act_expired,
    "open_case": _act_open_case,
    "update_case": _act_update_case,
    "issue_codename": _act_issue_codename,
    "mark_ready": _act_mark_ready,
    "alert": _act_alert,
    "handoff": _act_handoff,
    "set_language": _act_set_language,
}


def _unfit_note(results: dict[str, Any], language: str) -> str | None:
    """What he wrote that the bot could not read as an answer, for the verifier: kept, never
    dropped ("не помню точно, 1998 год" to a yes/no question)."""
    kept = [str(item.get("text", "")) for item in results.get(runner.UNFIT_RESULT) or [] if item]
    if not kept:
        return None
    with override(language):
        head = _("He also wrote (the bot could not read it as an answer):")
    return "\n".join([head, *(f"• {text}" for text in kept)])


def _handoff(conversation: Conversation | None, *, priority: int, reason: str) -> None:
    if conversation is None:
        return
    conversation.status = ConversationStatus.WAITING
    conversation.waiting_since = conversation.waiting_since or timezone.now()
    _mark_waiting_reason(conversation, reason, priority=priority, save=False)
    conversation.save(update_fields=["status", "waiting_since", "priority", "waiting_reason"])
    from .services import auto_assign

    auto_assign(conversation)


#: Queue marks by weight: a later event never lowers the mark (front outranks the rest).
_REASON_RANK = {
    WaitingReason.NONE: 0,
    WaitingReason.HANDOFF: 1,
    WaitingReason.AFTER_APPLICATION: 2,
    WaitingReason.FRONT_UNVERIFIED: 3,
    WaitingReason.FRONT: 4,
}


def _mark_waiting_reason(
    conversation: Conversation, reason: str, *, priority: int, save: bool = True
) -> None:
    """Raise the conversation's queue mark and priority; kept until it goes back to the bot."""
    if (
        _REASON_RANK[WaitingReason(reason)]
        >= _REASON_RANK[WaitingReason(conversation.waiting_reason)]
    ):
        conversation.waiting_reason = reason
    conversation.priority = max(conversation.priority, priority)
    if save:
        conversation.save(update_fields=["priority", "waiting_reason"])


def _operation(
    run: FlowRun, flow: Flow, state: runner.RunState, conversation: Conversation | None
) -> list[Reply]:
    """A ``do`` node: perform it now and resume the flow with its outcome."""
    assert state.node is not None  # noqa: S101
    node = flow.nodes[state.node]
    values: dict[str, Any] = {}
    if node.do == "reidentify":
        outcome = _reidentify(run, state, conversation)
        # The codename the person typed is never kept, even encrypted.
        values = {"codename": None}
    else:
        outcome = "ok"
    results = {k: v for k, v in {**state.results, **values}.items() if v is not None}
    state = runner.RunState(**{**state.to_dict(), "results": results})
    step = runner.resume(flow, state, outcome, now=timezone.now())
    return _apply(run, flow, step, conversation)


def _reidentify(run: FlowRun, state: runner.RunState, conversation: Conversation | None) -> str:
    """Check the code words. Every attempt costs one slow hash and answers alike whether or not
    the service number is known (see :func:`workflow.reidentify_by_codename`). Attempts are
    counted per service number and per identity across sessions and runs, and share a global
    hash budget; past any limit the answer is "locked": an operator takes over."""
    if run.failed_reidentifications >= MAX_REIDENTIFY_FAILURES:
        return "locked"
    codename = str(state.results.get("codename") or "")
    service_number = str(state.results.get("service_number") or "")
    if not _reidentify_allowed(run, conversation, service_number):
        stat_record(
            kind="reidentify.limited", channel=conversation.channel if conversation else "phone"
        )
        return "locked"
    case = workflow.reidentify_by_codename(
        codename=codename,
        service_number=service_number or None,
        requester=conversation.contact if conversation is not None else None,
    )
    if case is not None:
        run.case = case
        run.reidentified_by = "codename"
        run.save(update_fields=["case", "reidentified_by"])
        return "ok"
    run.failed_reidentifications += 1
    run.save(update_fields=["failed_reidentifications"])
    stat_record(kind="reidentify.failed", channel=conversation.channel if conversation else "phone")
    if run.failed_reidentifications >= MAX_REIDENTIFY_FAILURES:
        return "locked"
    return "failed"


def _reidentify_allowed(
    run: FlowRun, conversation: Conversation | None, service_number: str
) -> bool:
    """Count this attempt against its service number and identity, then take a unit of the
    global hash budget. Counted whether or not the number is known, so that the limits
    themselves reveal nothing."""
    limit = settings.LIFELINE_REIDENTIFY_LIMIT
    window = settings.LIFELINE_REIDENTIFY_WINDOW
    allowed = True
    try:
        number_key = crypto.service_number_index(service_number) if service_number else ""
    except crypto.BlindIndexError:
        number_key = ""
    if number_key:
        allowed &= limits.hit(f"reid:sn:{number_key}", limit=limit, window=window)
    if conversation is not None:
        allowed &= limits.hit(f"reid:id:{conversation.identity_id}", limit=limit, window=window)
    channel = conversation.channel if conversation is not None else "phone"
    return allowed and limits.budget("secret_hash", channel=channel)


# --- Commands ---------------------------------------------------------------------------


def _set_language(conversation: Conversation, language: str) -> None:
    conversation.language = language
    conversation.save(update_fields=["language"])
    contact = conversation.contact
    contact.language = language
    contact.save(update_fields=["language"])


def _change_language(conversation: Conversation, language: str) -> list[Reply]:
    if language not in LANGUAGES:
        return [Reply(_("Choose a language:"), ("/lang ru", "/lang uk", "/lang en"))]
    _set_language(conversation, language)
    run = _active_run(conversation)
    with override(language):
        replies = [Reply(_("Language changed."))]
    if run is not None and run.state:
        flow = pinned_flow(run.flow, run.version)
        state = runner.RunState.from_dict(run.state)
        state = runner.RunState(**{**state.to_dict(), "language": language})
        run.state = state.to_dict()
        run.save(update_fields=["state"])
        replies.extend(Reply(m.text, m.buttons) for m in runner.prompt(flow, state))
    return replies


def _confirm_forget(conversation: Conversation, text: str) -> list[Reply]:
    conversation.pending_command = ""
    conversation.save(update_fields=["pending_command"])
    answer = text.strip().casefold()
    yes_labels = set()
    for language in LANGUAGES:
        with override(language):
            yes_labels.add(_("Yes, erase").casefold())
    if answer not in yes_labels and not is_yes(answer):
        return [Reply(_("Nothing was erased."))]
    forget_contact(conversation)
    return [
        Reply(
            _(
                "Done: your application and our conversation are erased. If you write "
                "again, we start from the beginning."
            )
        )
    ]


def forget_contact(
    conversation: Conversation, *, actor: User | None = None, via: str = "forget"
) -> dict[str, int]:
    """Erase what the person told us: messages, notes, flow answers, the call backs he asked
    for, and the personal data of the cases he opened — he asked (/forget), or a supervisor
    decided (``actor``). Statistics (which hold nothing personal) stay. Audited with the counts
    of what was erased, never a value; returns the counts."""
    contact = conversation.contact
    counts: dict[str, int] = {}
    cases = list(Case.objects.filter(requester=contact))
    for case in cases:
        workflow.case_erase_personal_data(case=case, via=via)
    counts["cases"] = len(cases)
    # His applications no longer lead to him (their counts and statuses stay).
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(requester=None)
    counts["flow_answers"] = FlowRun.objects.filter(
        conversation__contact=contact, state__isnull=False
    ).update(status=FlowRunStatus.CANCELLED, state=None)
    FlowRun.objects.filter(conversation__contact=contact, status=FlowRunStatus.ACTIVE).update(
        status=FlowRunStatus.CANCELLED
    )
    deleted = Message.objects.filter(conversation__contact=contact).delete()  # media with them
    counts["messages"] = deleted[1].get(Message._meta.label, 0)
    counts["notes"] = Note.objects.filter(conversation__contact=contact).delete()[0]
    # Call backs he asked for (the phone app's rows, reached through the relation so that this
    # app does not import the phone app): never called, and the number and time are gone.
    counts["callbacks"] = contact.callbacks.update(
        status="cancelled", number=None, number_index="", safe_time=None
    )
    # What the channels hold of him: queued replies, failed messages, waiting events.
    identities = list(contact.identities.all())
    indexes = {i.address_index for i in identities}
    for identity in identities:  # a blind-index rotation: his events may carry either key's
        if identity.address and len(crypto.keyring().blind_index_keys) > 1:
            indexes.update(crypto.lookup(identity_index, identity.channel, identity.address))
    counts.update(erase_channels(contact, sorted(indexes), waiting=actor is not None))
    if actor is not None:
        # A supervisor's erasure ends the conversation: his addresses go too, so that his
        # Telegram account, web chat or number no longer leads here (one a supervisor blocked
        # stays, with its block). After /forget the bot still answers "done" on that address:
        # it stays, and leads to nothing but this emptied contact.
        counts["addresses"] = (
            contact.identities.exclude(blocks__until__gt=timezone.now())
            .delete()[1]
            .get("contacts.Identity", 0)
        )
    # His data keys go — his own (what stays, an address the bot answers on, is re-sealed under
    # a fresh one), his conversations', his call backs' —: what was erased cannot be read from
    # any older copy of the database either.
    shredded = [keystore.shred(contact)]
    shredded += [keystore.shred(c) for c in contact.conversations.select_for_update()]
    counts["data_keys"] = sum(1 for k in shredded if k) + keystore.shred_many(
        contact.callbacks.all()
    )
    stat_record(
        kind="contact.forgotten", channel=conversation.channel, language=conversation.language
    )
    audit_record(
        actor=actor,
        actor_label="" if actor is not None else via,
        action="contact.erased",
        object_type="contact",
        object_id=contact.pk,
        fields=[f"{name}:{count}" for name, count in sorted(counts.items()) if count],
    )
    return counts
