"""Talking to a flow without any channel: interactively, or from a scripted transcript.

A script (YAML) is a list of steps. The first step shows what the flow says when it starts;
each later step sends one input and checks the answer::

    flow: soldier_intake
    lang: ru
    steps:
      - expect: "Кто вы?"                 # text(s) that must appear in the replies
        buttons: ["Военный, пишу о себе", "Родственник или близкий"]
      - send: "1"
        expect: ["Как вы попали"]
      - send: "да"
        actions: [open_case, issue_codename]   # the host actions asked for, in order
        status: ended
      - host: failed                      # the outcome of a 'do' operation (reidentify)

The simulator is a dry host: it applies no action, fills ``{codename}`` with a fixed
placeholder, and follows ``start_flow`` into the next flow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from . import runner
from .model import Flow

SIMULATED_CODENAME = "SIMULATED CODE WORDS"


@dataclass
class Transcript:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


class ScriptMismatch(Exception):
    def __init__(self, step: int, message: str) -> None:
        super().__init__(f"step {step}: {message}")
        self.step = step


class DryHost:
    """Runs flows and follows jumps between them; renders host placeholders."""

    def __init__(self, flows: Mapping[str, Flow], *, now: datetime | None = None) -> None:
        self.flows = flows
        self.now = now or datetime.now(UTC)
        self.flow: Flow | None = None
        self.state: runner.RunState | None = None

    def _settle(self, step: runner.Step) -> runner.Step:
        """Follow ``start_flow`` jumps; collect everything said on the way."""
        outputs = list(step.outputs)
        state = step.state
        for action in list(step.actions):
            if action.kind == "start_flow":
                self.flow = self.flows[action.params["flow"]]
                nxt = runner.start(
                    self.flow,
                    language=state.language,
                    now=self.now,
                    results=action.params.get("results"),
                )
                nxt = self._settle(nxt)
                outputs.extend(nxt.outputs)
                state = nxt.state
        self.state = state
        return runner.Step(state, tuple(outputs))

    def start(self, name: str, language: str) -> runner.Step:
        self.flow = self.flows[name]
        return self._settle(runner.start(self.flow, language=language, now=self.now))

    def send(self, text: str) -> runner.Step:
        if self.flow is None or self.state is None:
            raise RuntimeError("start a flow first")
        self.now += timedelta(seconds=5)
        return self._settle(runner.handle(self.flow, self.state, text, now=self.now))

    def host(self, outcome: str, values: dict[str, Any] | None = None) -> runner.Step:
        if self.flow is None or self.state is None:
            raise RuntimeError("start a flow first")
        return self._settle(
            runner.resume(self.flow, self.state, outcome, now=self.now, values=values)
        )

    @staticmethod
    def render(message: runner.Message) -> str:
        return message.text.replace("{codename}", SIMULATED_CODENAME)


def describe(step: runner.Step) -> list[str]:
    lines = []
    for output in step.outputs:
        if isinstance(output, runner.Message):
            if output.text:
                lines.append(f"bot: {DryHost.render(output)}")
            if output.buttons:
                lines.append("     " + "  ".join(f"[{b}]" for b in output.buttons))
        elif output.kind != "start_flow":
            lines.append(f"     <{output.kind}>")
    lines.append(f"     ({step.state.flow}: {step.state.status})")
    return lines


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def check(step_no: int, spec: Mapping[str, Any], step: runner.Step) -> None:
    texts = [DryHost.render(m) for m in step.messages]
    joined = "\n".join(texts)
    for expected in _as_list(spec.get("expect")):
        if expected not in joined:
            raise ScriptMismatch(
                step_no, f"expected a reply containing {expected!r}, got: {joined!r}"
            )
    for unexpected in _as_list(spec.get("not_expect")):
        if unexpected in joined:
            raise ScriptMismatch(step_no, f"did not expect {unexpected!r} in: {joined!r}")
    if "buttons" in spec:
        buttons = [b for m in step.messages for b in m.buttons]
        if buttons != _as_list(spec["buttons"]):
            raise ScriptMismatch(
                step_no, f"expected buttons {_as_list(spec['buttons'])}, got {buttons}"
            )
    if "actions" in spec:
        kinds = [a.kind for a in step.actions if a.kind != "start_flow"]
        if kinds != _as_list(spec["actions"]):
            raise ScriptMismatch(
                step_no, f"expected actions {_as_list(spec['actions'])}, got {kinds}"
            )
    if "status" in spec and step.state.status != spec["status"]:
        raise ScriptMismatch(
            step_no, f"expected status {spec['status']!r}, got {step.state.status!r}"
        )
    if "flow" in spec and step.state.flow != spec["flow"]:
        raise ScriptMismatch(
            step_no, f"expected to be in flow {spec['flow']!r}, got {step.state.flow!r}"
        )
    if "case" in spec:
        for key, value in dict(spec["case"]).items():
            if step.state.case.get(key) != value:
                raise ScriptMismatch(
                    step_no, f"expected case.{key} = {value!r}, got {step.state.case.get(key)!r}"
                )


def run_script(
    flows: Mapping[str, Flow],
    script_text: str,
    *,
    name: str | None = None,
    language: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> int:
    """Run a scripted transcript; return the number of steps checked. Raises ScriptMismatch."""
    script = yaml.safe_load(script_text)
    if not isinstance(script, dict) or not isinstance(script.get("steps"), list):
        raise ScriptMismatch(0, "a script has 'steps': a list")
    flow_name = name or script.get("flow")
    lang = language or script.get("lang", "ru")
    if flow_name not in flows:
        raise ScriptMismatch(0, f"unknown flow {flow_name!r}")
    host = DryHost(flows)
    steps = script["steps"]
    step = host.start(str(flow_name), str(lang))
    for line in describe(step):
        (echo or (lambda _s: None))(line)
    check(1, steps[0] if steps else {}, step)
    for number, spec in enumerate(steps[1:], start=2):
        if "send" in spec:
            (echo or (lambda _s: None))(f"you: {spec['send']}")
            step = host.send(str(spec["send"]))
        elif "host" in spec:
            (echo or (lambda _s: None))(f"host: {spec['host']}")
            step = host.host(str(spec["host"]), spec.get("values"))
        else:
            raise ScriptMismatch(number, "each step after the first has 'send' or 'host'")
        for line in describe(step):
            (echo or (lambda _s: None))(line)
        check(number, spec, step)
    return len(steps)
