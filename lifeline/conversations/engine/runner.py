"""Running a flow: ``start``, ``handle`` (the person's input), ``resume`` (a host operation's
outcome). Each returns a :class:`Step`: the new state and the outputs, in order.

Deterministic: time comes in as ``now``; nothing random happens here (codenames are made by the
host when it applies ``issue_codename``).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .inputs import read
from .model import END, FLOW_PREFIX, LANGUAGES, Flow, Node, Text

WAITING_INPUT = "waiting_input"  # a node with 'ask' is waiting for the person
WAITING_HOST = "waiting_host"  # a node with 'do' is waiting for the host's outcome
ENDED = "ended"  # reached an end, or jumped to another flow
HANDED_OFF = "handed_off"  # too many unfitting answers: an operator takes over
EXPIRED = "expired"  # silent longer than the flow's expire_after

MAX_CHAIN = 100  # nodes passed without waiting: a loop guard


@dataclass(frozen=True)
class Message:
    text: str
    buttons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


Output = Message | Action


@dataclass(frozen=True)
class RunState:
    """Everything about one walk through a flow. Stored by the host (encrypted)."""

    flow: str
    version: int
    language: str
    node: str | None
    status: str
    results: dict[str, Any] = field(default_factory=dict)
    case: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    last_activity: str = ""
    channel: str = ""  # where the person writes from: texts limited to a channel follow it

    def to_dict(self) -> dict[str, Any]:
        # What asdict() gives, without its deep copy of every value (a step's hot spot): the
        # state is frozen and its dicts are only ever replaced, never changed in place.
        return {
            "flow": self.flow,
            "version": self.version,
            "language": self.language,
            "node": self.node,
            "status": self.status,
            "results": dict(self.results),
            "case": dict(self.case),
            "retries": self.retries,
            "last_activity": self.last_activity,
            "channel": self.channel,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        return cls(**data)

    @property
    def active(self) -> bool:
        return self.status in (WAITING_INPUT, WAITING_HOST)


@dataclass(frozen=True)
class Step:
    state: RunState
    outputs: tuple[Output, ...]

    @property
    def messages(self) -> list[Message]:
        return [o for o in self.outputs if isinstance(o, Message)]

    @property
    def actions(self) -> list[Action]:
        return [o for o in self.outputs if isinstance(o, Action)]


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # host values ({codename}) are filled in by the host


def render(text: Text, language: str, results: dict[str, Any]) -> str:
    template = text.get(language)
    values = _Values({k: v for k, v in results.items() if v is not None})
    return string.Formatter().vformat(template, (), values)


def _said(node: Node, state: RunState) -> list[Text]:
    """The node's texts for the person's channel."""
    return [t for t in node.say if t.shown_on(state.channel)]


def _buttons(node: Node, language: str) -> tuple[str, ...]:
    if node.router is None:
        return ()
    return tuple(c.label.get(language) for c in node.router.categories if c.label is not None)


def start(
    flow: Flow,
    *,
    language: str,
    now: datetime,
    results: dict[str, Any] | None = None,
    channel: str = "",
) -> Step:
    if language not in LANGUAGES:
        language = "ru"
    state = RunState(
        flow=flow.name,
        version=flow.version,
        language=language,
        node=flow.start,
        status=WAITING_INPUT,
        results=dict(results or {}),
        last_activity=now.isoformat(),
        channel=channel,
    )
    return _enter(flow, state, flow.start, [])


def _enter(flow: Flow, state: RunState, target: str, outputs: list[Output]) -> Step:
    """Walk from ``target`` through nodes that need no answer, until one waits or ends."""
    for _ in range(MAX_CHAIN):
        if target == END:
            return Step(replace(state, node=None, status=ENDED), tuple(outputs))
        if target.startswith(FLOW_PREFIX):
            outputs.append(
                Action(
                    "start_flow",
                    {"flow": target.removeprefix(FLOW_PREFIX), "results": dict(state.results)},
                )
            )
            return Step(replace(state, node=None, status=ENDED), tuple(outputs))
        node = flow.nodes[target]
        state = replace(state, node=node.name, retries=0)
        for action in node.actions:
            params: dict[str, Any] = dict(action.params)
            if action.kind in ("open_case", "update_case"):
                params["fields"] = dict(state.case)
                params["results"] = dict(state.results)
            if action.kind == "set_language":
                state = replace(state, language=str(params["value"]))
            outputs.append(Action(action.kind, params))
        said = _said(node, state)
        for index, text in enumerate(said):
            last = index == len(said) - 1
            buttons = _buttons(node, state.language) if last else ()
            outputs.append(Message(render(text, state.language, state.results), buttons))
        if node.router is not None:
            if not said and _buttons(node, state.language):
                outputs.append(Message("", _buttons(node, state.language)))
            return Step(replace(state, status=WAITING_INPUT), tuple(outputs))
        if node.do is not None:
            outputs.append(Action(node.do, {"results": dict(state.results)}))
            return Step(replace(state, status=WAITING_HOST), tuple(outputs))
        if node.end:
            return Step(replace(state, node=None, status=ENDED), tuple(outputs))
        target = node.next["*"]
    raise RuntimeError(f"flow {flow.name}: more than {MAX_CHAIN} nodes without a question")


def prompt(flow: Flow, state: RunState) -> list[Message]:
    """The current question again (after a language change, or when the person is lost)."""
    if state.status != WAITING_INPUT or state.node is None:
        return []
    node = flow.nodes[state.node]
    texts = [render(t, state.language, state.results) for t in _said(node, state)] or [""]
    messages = [Message(t) for t in texts[:-1]]
    messages.append(Message(texts[-1], _buttons(node, state.language)))
    return messages


def _expired(flow: Flow, state: RunState, now: datetime) -> bool:
    if not state.last_activity:
        return False
    last = datetime.fromisoformat(state.last_activity)
    return (now - last).total_seconds() > flow.expire_after


def handle(flow: Flow, state: RunState, text: str, *, now: datetime) -> Step:
    """The person wrote ``text`` (or pressed a button with that label)."""
    if not state.active:
        return Step(state, ())
    if _expired(flow, state, now):
        return Step(replace(state, status=EXPIRED, node=None), (Action("expired"),))
    state = replace(state, last_activity=now.isoformat())
    if state.status == WAITING_HOST or state.node is None:
        return Step(state, ())  # the host has not answered yet: the input waits
    node = flow.nodes[state.node]
    assert node.router is not None  # noqa: S101 - WAITING_INPUT only stops at 'ask' nodes
    answer = read(node.router, text, today=now.date())
    if answer is None:
        state = _keep_unfit(state, node.name, text)
        retries = state.retries + 1
        limit = node.retries if node.retries is not None else flow.retries
        if retries > limit:
            return Step(
                replace(state, status=HANDED_OFF, node=None, retries=retries),
                (
                    Message(flow.handoff_text.get(state.language)),
                    Action("handoff", {"reason": "retries", "node": node.name}),
                ),
            )
        retry = node.retry or (node.say[-1] if node.say else flow.handoff_text)
        message = Message(
            render(retry, state.language, state.results), _buttons(node, state.language)
        )
        return Step(replace(state, retries=retries), (message,))
    results = dict(state.results)
    case = dict(state.case)
    if node.result:
        results[node.result] = answer.value
    if node.set_field:
        case[node.set_field] = answer.value
    state = replace(state, results=results, case=case)
    target = node.next.get(answer.exit) or node.next["*"]
    return _enter(flow, state, target, [])


#: What the person wrote that did not fit a question is kept (never dropped) for the operator,
#: under this result name: at most this many answers, each cut to this length.
UNFIT_RESULT = "unfit_answers"
UNFIT_MAX = 10
UNFIT_CHARS = 300


def _keep_unfit(state: RunState, node: str, text: str) -> RunState:
    kept = list(state.results.get(UNFIT_RESULT) or [])
    if len(kept) >= UNFIT_MAX or not text.strip():
        return state
    kept.append({"question": node, "text": text.strip()[:UNFIT_CHARS]})
    return replace(state, results={**state.results, UNFIT_RESULT: kept})


def resume(
    flow: Flow,
    state: RunState,
    outcome: str,
    *,
    now: datetime,
    values: dict[str, Any] | None = None,
) -> Step:
    """The host finished the operation a ``do`` node asked for; ``outcome`` picks the exit."""
    if state.status != WAITING_HOST or state.node is None:
        return Step(state, ())
    node = flow.nodes[state.node]
    results = {**state.results, **(values or {})}
    state = replace(state, results=results, last_activity=now.isoformat())
    target = node.next.get(outcome) or node.next.get("*")
    if target is None:
        raise ValueError(f"node {node.name} has no exit for outcome {outcome!r}")
    return _enter(flow, state, target, [])
