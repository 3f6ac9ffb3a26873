"""The parsed form of a flow file. Immutable; built by :mod:`.loader`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LANGUAGES: tuple[str, ...] = ("ru", "uk", "en")
#: Channels a text may be limited to (``only:`` in a flow file).
CHANNELS: tuple[str, ...] = ("telegram", "web", "phone")

#: Router kinds: how a node reads the person's answer.
ROUTER_KINDS = frozenset({"text", "choice", "yesno", "number", "date", "phone", "regex", "keyword"})

#: Actions a node may ask its host to perform when the node is entered:
#: open_case (a new application from the case fields collected so far), update_case (add the
#: fields collected to the case found by ``reidentify``), issue_codename (make one, store its hash,
#: fill ``{codename}``), mark_ready (stage 2: the re-identified case goes to ``ready``),
#: alert (put the conversation at the top of the operators' queue), handoff (an operator takes
#: over), set_language.
ACTION_KINDS = frozenset(
    {"open_case", "update_case", "issue_codename", "mark_ready", "handoff", "set_language", "alert"}
)

#: Host operations whose outcome chooses the exit (``do:`` nodes), with their outcomes.
OPERATIONS: Mapping[str, frozenset[str]] = {
    "reidentify": frozenset({"ok", "failed", "locked"}),
    "forget": frozenset({"ok"}),
}

#: Case fields a flow may set (``set: case.<field>``).
CASE_FIELDS = frozenset(
    {
        "full_name",
        "birth_date",
        "service_number",
        "rank",
        "unit",
        "location",
        "mobilisation_status",
        "group_size",
        "phone_situation",
        "requester_relation",
        "callback_phone",
        "urgency",
    }
)

#: Values the host fills into messages (``{codename}``), besides the flow's own results.
HOST_VALUES = frozenset({"codename"})

END = "end"
FLOW_PREFIX = "flow:"


@dataclass(frozen=True)
class Text:
    """One message in every language."""

    values: Mapping[str, str]
    # Empty: every channel. Otherwise said only on these (Telegram advice not in the web chat).
    channels: frozenset[str] = frozenset()

    def get(self, language: str) -> str:
        return self.values.get(language) or self.values["ru"]

    def shown_on(self, channel: str) -> bool:
        return not self.channels or not channel or channel in self.channels


@dataclass(frozen=True)
class Category:
    """A named answer: a button (choice), yes/no, or a set of keywords."""

    name: str
    label: Text | None = None
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Router:
    kind: str
    categories: tuple[Category, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionSpec:
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Node:
    name: str
    line: int
    say: tuple[Text, ...] = ()
    actions: tuple[ActionSpec, ...] = ()
    router: Router | None = None
    do: str | None = None
    result: str | None = None
    set_field: str | None = None  # a name from CASE_FIELDS
    retry: Text | None = None
    retries: int | None = None
    next: Mapping[str, str] = field(default_factory=dict)  # exit -> target; "*" = any
    end: bool = False

    @property
    def exits(self) -> frozenset[str]:
        """The exits this node can take."""
        if self.router is not None and self.router.kind in ("choice", "yesno", "keyword"):
            return frozenset(c.name for c in self.router.categories)
        if self.do is not None:
            return OPERATIONS.get(self.do, frozenset())
        return frozenset({"*"})


@dataclass(frozen=True)
class Flow:
    name: str
    version: int
    start: str
    nodes: Mapping[str, Node]
    results: frozenset[str]
    expire_after: int  # seconds of silence after which a run expires
    retries: int  # default limit of unfitting answers before handing off to an operator
    handoff_text: Text
    path: str = ""
