"""Reading and validating flow files (YAML) into :class:`~.model.Flow`.

Every problem is reported with its file and line: missing translations, unknown router kinds,
dangling exits, unreachable nodes, undeclared results, unknown placeholders. A flow with any
error is never loaded.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from .model import (
    ACTION_KINDS,
    CASE_FIELDS,
    CHANNELS,
    END,
    FLOW_PREFIX,
    HOST_VALUES,
    LANGUAGES,
    OPERATIONS,
    ROUTER_KINDS,
    ActionSpec,
    Category,
    Flow,
    Node,
    Router,
    Text,
)

SPEC_VERSION = 1
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
DURATION = re.compile(r"^(\d+)\s*([smhd])$")
NODE_KEYS = frozenset(
    {"say", "actions", "ask", "do", "result", "set", "retry", "retries", "next", "end"}
)


@dataclass(frozen=True)
class FlowError:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class FlowInvalid(Exception):
    def __init__(self, errors: list[FlowError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


class LineDict(dict[str, Any]):
    """A mapping that remembers the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        key = str(key) if not isinstance(key, bool) else ("yes" if key else "no")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Keys like "yes"/"no"/"on" stay strings; dates stay text (the engine parses them itself).
for first, resolvers in list(_Loader.yaml_implicit_resolvers.items()):
    _Loader.yaml_implicit_resolvers[first] = [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]


class _Builder:
    def __init__(self, path: str, known_flows: Iterable[str]) -> None:
        self.path = path
        self.known_flows = set(known_flows)
        self.errors: list[FlowError] = []

    def error(self, line: int, message: str) -> None:
        self.errors.append(FlowError(self.path, line, message))

    @staticmethod
    def line_of(mapping: Any, key: str | None = None) -> int:
        if isinstance(mapping, LineDict):
            if key is not None and key in mapping.key_lines:
                return mapping.key_lines[key]
            return mapping.line
        return 0

    # --- texts -------------------------------------------------------------------------
    def text(self, value: Any, line: int, what: str) -> Text | None:
        if isinstance(value, str):
            self.error(line, f"{what}: give the text in every language ({', '.join(LANGUAGES)})")
            return None
        if not isinstance(value, Mapping):
            self.error(line, f"{what}: expected texts per language")
            return None
        channels = self.only(value, line, what)
        values: dict[str, str] = {}
        for language in LANGUAGES:
            text = value.get(language)
            if not isinstance(text, str) or not text.strip():
                self.error(self.line_of(value) or line, f"{what}: missing translation '{language}'")
            else:
                values[language] = text.strip()
        for extra in set(value) - set(LANGUAGES) - {"only"}:
            self.error(self.line_of(value, extra), f"{what}: unknown language '{extra}'")
        return Text(values, channels) if len(values) == len(LANGUAGES) else None

    def only(self, value: Mapping[str, Any], line: int, what: str) -> frozenset[str]:
        """``only: telegram`` or ``only: [telegram, web]``: the channels a text is said on."""
        raw = value.get("only")
        if raw is None:
            return frozenset()
        names = [raw] if isinstance(raw, str) else raw
        if not isinstance(names, list) or not names:
            self.error(self.line_of(value, "only") or line, f"{what}: 'only' lists channels")
            return frozenset()
        unknown = [n for n in names if n not in CHANNELS]
        if unknown:
            self.error(
                self.line_of(value, "only") or line,
                f"{what}: unknown channel {unknown[0]!r} (known: {', '.join(CHANNELS)})",
            )
        return frozenset(n for n in names if n in CHANNELS)

    def texts(self, value: Any, line: int, what: str) -> tuple[Text, ...]:
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            text = self.text(item, self.line_of(item) or line, what)
            if text is not None:
                out.append(text)
        return tuple(out)

    # --- routers -----------------------------------------------------------------------
    def router(self, value: Any, line: int, node: str) -> Router | None:
        if isinstance(value, str):
            value = {value: {}}
        if not isinstance(value, Mapping) or len(value) != 1:
            self.error(line, f"node '{node}': 'ask' takes one router, e.g. 'ask: {{text: {{}}}}'")
            return None
        ((kind, options),) = value.items()
        options = options if options is not None else {}
        if kind not in ROUTER_KINDS:
            self.error(
                line,
                f"node '{node}': unknown router '{kind}' "
                f"(one of {', '.join(sorted(ROUTER_KINDS))})",
            )
            return None
        if not isinstance(options, Mapping):
            self.error(line, f"node '{node}': options of '{kind}' must be a mapping")
            return None
        categories: list[Category] = []
        plain: dict[str, Any] = {}
        if kind == "choice":
            if len(options) < 2:
                self.error(line, f"node '{node}': a choice needs at least two options")
            for name, label in options.items():
                if not NAME.match(name):
                    self.error(self.line_of(options, name), f"bad option name '{name}'")
                text = self.text(label, self.line_of(options, name), f"option '{name}'")
                categories.append(Category(name, text))
        elif kind == "yesno":
            for name in ("yes", "no"):
                label = options.get(name)
                text = (
                    self.text(label, self.line_of(options, name) or line, f"'{name}' label")
                    if label is not None
                    else None
                )
                categories.append(Category(name, text))
        elif kind == "keyword":
            for name, words in options.items():
                if name == "other":
                    categories.append(Category("other"))
                    continue
                if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                    self.error(
                        self.line_of(options, name), f"keywords of '{name}' must be a list of words"
                    )
                    continue
                categories.append(Category(name, None, tuple(w.casefold() for w in words)))
        else:
            plain = dict(options)
            self.router_options(kind, plain, line, node)
        return Router(kind, tuple(categories), plain)

    def router_options(self, kind: str, options: dict[str, Any], line: int, node: str) -> None:
        allowed = {
            "text": {"min_length", "max_length"},
            "number": {"min", "max"},
            "date": {"after", "before", "min_age", "max_age"},
            "phone": {"region"},
            "regex": {"pattern"},
        }[kind]
        for key in set(options) - allowed:
            self.error(line, f"node '{node}': '{kind}' has no option '{key}'")
        for key in ("after", "before"):
            if key in options:
                try:
                    options[key] = date.fromisoformat(str(options[key]))
                except ValueError:
                    self.error(line, f"node '{node}': '{key}' must be a date like 1950-01-01")
        if kind == "regex":
            try:
                re.compile(str(options.get("pattern", "")))
            except re.error as exc:
                self.error(line, f"node '{node}': bad pattern ({exc})")
            if not options.get("pattern"):
                self.error(line, f"node '{node}': 'regex' needs a pattern")

    # --- nodes -------------------------------------------------------------------------
    def node(self, name: str, raw: Any, line: int, results: set[str]) -> Node | None:
        if not NAME.match(name):
            self.error(line, f"bad node name '{name}' (lower case, digits, underscores)")
        if not isinstance(raw, Mapping):
            self.error(line, f"node '{name}' must be a mapping")
            return None
        for key in set(raw) - NODE_KEYS:
            self.error(self.line_of(raw, key), f"node '{name}': unknown key '{key}'")
        say = (
            self.texts(raw["say"], self.line_of(raw, "say"), f"node '{name}' say")
            if "say" in raw
            else ()
        )
        router = self.router(raw["ask"], self.line_of(raw, "ask"), name) if "ask" in raw else None
        do = raw.get("do")
        if do is not None and do not in OPERATIONS:
            self.error(self.line_of(raw, "do"), f"node '{name}': unknown operation '{do}'")
        if do is not None and router is not None:
            self.error(self.line_of(raw, "do"), f"node '{name}': use either 'ask' or 'do'")
        result = raw.get("result")
        if result is not None and result not in results:
            self.error(
                self.line_of(raw, "result"),
                f"node '{name}': unknown result '{result}' (declare it under 'results')",
            )
        set_field = raw.get("set")
        if set_field is not None:
            field = str(set_field).removeprefix("case.")
            if not str(set_field).startswith("case.") or field not in CASE_FIELDS:
                self.error(
                    self.line_of(raw, "set"),
                    f"node '{name}': cannot set '{set_field}' "
                    f"(one of case.{', case.'.join(sorted(CASE_FIELDS))})",
                )
            set_field = field
        retry = (
            self.text(raw["retry"], self.line_of(raw, "retry"), f"node '{name}' retry")
            if "retry" in raw
            else None
        )
        actions = self.actions(raw.get("actions", []), self.line_of(raw, "actions"), name)
        end = bool(raw.get("end", False))
        nxt = raw.get("next")
        exits: dict[str, str] = {}
        if isinstance(nxt, str):
            exits = {"*": nxt}
        elif isinstance(nxt, Mapping):
            exits = {str(k): str(v) for k, v in nxt.items()}
        elif nxt is not None:
            self.error(self.line_of(raw, "next"), f"node '{name}': 'next' is a name or a mapping")
        if not end and not exits:
            self.error(line, f"node '{name}' has no 'next' and is not an 'end'")
        retries = raw.get("retries")
        if retries is not None and (not isinstance(retries, int) or retries < 0):
            self.error(self.line_of(raw, "retries"), f"node '{name}': retries is a number ≥ 0")
        if router is not None and router.kind in ("choice", "yesno") and router.kind:
            pass
        return Node(
            name=name,
            line=line,
            say=say,
            actions=actions,
            router=router,
            do=do,
            result=result,
            set_field=set_field,
            retry=retry,
            retries=retries,
            next=exits,
            end=end,
        )

    def actions(self, raw: Any, line: int, node: str) -> tuple[ActionSpec, ...]:
        if not isinstance(raw, list):
            self.error(line, f"node '{node}': 'actions' is a list")
            return ()
        out = []
        for item in raw:
            params: Any
            if isinstance(item, str):
                kind, params = item, {}
            elif isinstance(item, Mapping) and len(item) == 1:
                ((kind, params),) = item.items()
                params = params if isinstance(params, Mapping) else {"value": params}
            else:
                self.error(line, f"node '{node}': bad action {item!r}")
                continue
            if kind not in ACTION_KINDS:
                self.error(
                    line,
                    f"node '{node}': unknown action '{kind}' "
                    f"(one of {', '.join(sorted(ACTION_KINDS))})",
                )
                continue
            if kind == "set_language" and params.get("value") not in LANGUAGES:
                self.error(line, f"node '{node}': set_language needs one of {LANGUAGES}")
            out.append(ActionSpec(kind, dict(params)))
        return tuple(out)

    # --- the whole flow -----------------------------------------------------------------
    def flow(self, raw: Any) -> Flow | None:
        if not isinstance(raw, LineDict):
            self.error(1, "a flow file is a mapping")
            return None
        if raw.get("spec_version") != SPEC_VERSION:
            self.error(self.line_of(raw, "spec_version"), f"spec_version must be {SPEC_VERSION}")
        name = raw.get("flow")
        if not isinstance(name, str) or not NAME.match(name):
            self.error(self.line_of(raw, "flow"), "'flow' names the flow (lower case)")
            name = "invalid"
        elif Path(self.path).stem != name:
            self.error(self.line_of(raw, "flow"), f"flow '{name}' must live in {name}.yaml")
        version = raw.get("version")
        if not isinstance(version, int) or version < 1:
            self.error(self.line_of(raw, "version"), "'version' is a number ≥ 1")
            version = 0
        results = raw.get("results", [])
        if not isinstance(results, list) or not all(isinstance(r, str) for r in results):
            self.error(self.line_of(raw, "results"), "'results' lists result names")
            results = []
        expire = DURATION.match(str(raw.get("expire_after", "24h")))
        if not expire:
            self.error(self.line_of(raw, "expire_after"), "expire_after is like 30m, 24h, 7d")
        seconds = (
            int(expire.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[expire.group(2)]
            if expire
            else 86400
        )
        retries = raw.get("retries", 3)
        handoff = self.text(
            raw.get("handoff"), self.line_of(raw, "handoff") or raw.line, "flow 'handoff' message"
        )
        raw_nodes = raw.get("nodes")
        if not isinstance(raw_nodes, Mapping) or not raw_nodes:
            self.error(self.line_of(raw, "nodes"), "'nodes' is missing or empty")
            return None
        nodes: dict[str, Node] = {}
        for node_name, node_raw in raw_nodes.items():
            built = self.node(node_name, node_raw, self.line_of(raw_nodes, node_name), set(results))
            if built is not None:
                nodes[node_name] = built
        start = raw.get("start")
        if start not in nodes:
            self.error(self.line_of(raw, "start"), f"start node '{start}' does not exist")
        self.check_graph(nodes, start, set(results))
        if self.errors or handoff is None:
            return None
        return Flow(
            name=name,
            version=version,
            start=str(start),
            nodes=nodes,
            results=frozenset(results),
            expire_after=seconds,
            retries=int(retries),
            handoff_text=handoff,
            path=self.path,
        )

    def check_graph(self, nodes: Mapping[str, Node], start: Any, results: set[str]) -> None:
        for node in nodes.values():
            exits = node.exits
            for key, target in node.next.items():
                if key != "*" and key not in exits:
                    self.error(
                        node.line,
                        f"node '{node.name}': exit '{key}' does not exist "
                        f"(exits: {', '.join(sorted(exits))})",
                    )
                if target.startswith(FLOW_PREFIX):
                    other = target.removeprefix(FLOW_PREFIX)
                    if self.known_flows and other not in self.known_flows:
                        self.error(node.line, f"node '{node.name}': exit to unknown flow '{other}'")
                elif target != END and target not in nodes:
                    self.error(
                        node.line,
                        f"node '{node.name}': exit '{key}' goes to "
                        f"'{target}', which does not exist (dangling exit)",
                    )
            if not node.end and "*" not in node.next:
                for missing in sorted(exits - set(node.next)):
                    self.error(node.line, f"node '{node.name}': exit '{missing}' leads nowhere")
            for text in (*node.say, *((node.retry,) if node.retry else ())):
                for language, value in text.values.items():
                    for _, field_name, _, _ in string.Formatter().parse(value):
                        if field_name and field_name not in results | HOST_VALUES:
                            self.error(
                                node.line,
                                f"node '{node.name}' ({language}): unknown "
                                f"placeholder '{{{field_name}}}'",
                            )
        if start in nodes:
            seen = {start}
            todo = [start]
            while todo:
                for target in nodes[todo.pop()].next.values():
                    if target in nodes and target not in seen:
                        seen.add(target)
                        todo.append(target)
            for name in nodes:
                if name not in seen:
                    self.error(nodes[name].line, f"node '{name}' is unreachable from '{start}'")


def parse_flow(text: str, path: str, known_flows: Iterable[str] = ()) -> Flow:
    """Parse and validate one flow; raise :class:`FlowInvalid` listing every problem."""
    builder = _Builder(path, known_flows)
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FlowInvalid(
            [
                FlowError(
                    path,
                    (mark.line + 1) if mark else 1,
                    f"not valid YAML: {getattr(exc, 'problem', exc)}",
                )
            ]
        ) from None
    flow = builder.flow(raw)
    if flow is None:
        raise FlowInvalid(builder.errors or [FlowError(path, 1, "invalid flow")])
    return flow


def load_flows(folder: Path) -> dict[str, Flow]:
    """Every ``*.yaml`` under ``folder``, validated together (exits to other flows resolve)."""
    files = sorted(folder.glob("*.yaml"))
    names = [f.stem for f in files]
    flows: dict[str, Flow] = {}
    errors: list[FlowError] = []
    for file in files:
        try:
            flows[file.stem] = parse_flow(file.read_text(encoding="utf-8"), str(file), names)
        except FlowInvalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise FlowInvalid(errors)
    return flows
