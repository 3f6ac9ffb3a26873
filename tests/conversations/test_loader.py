"""The flow validator: every problem named with its file and line."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from lifeline.conversations.engine.loader import FlowInvalid, load_flows, parse_flow

FLOWS = Path(__file__).resolve().parents[2] / "flows"

BASE = """\
spec_version: 1
flow: t
version: 1
handoff: {ru: "оператор", uk: "оператор", en: "operator"}
results: [a]
start: first
nodes:
  first:
    say: {ru: "Привет", uk: "Привіт", en: "Hello"}
    ask: {text: {}}
    result: a
    next: second
  second:
    say: {ru: "Пока", uk: "Бувай", en: "Bye"}
    end: true
"""


def errors_of(source: str) -> list[str]:
    with pytest.raises(FlowInvalid) as info:
        parse_flow(source, "t.yaml")
    return [str(e) for e in info.value.errors]


def test_the_base_flow_is_valid() -> None:
    flow = parse_flow(BASE, "t.yaml")
    assert flow.start == "first"
    assert set(flow.nodes) == {"first", "second"}


def test_missing_translation_names_the_line() -> None:
    source = BASE.replace('uk: "Бувай", ', "")
    assert errors_of(source) == ["t.yaml:14: node 'second' say: missing translation 'uk'"]


def test_dangling_exit() -> None:
    source = BASE.replace("next: second", "next: third")
    assert any("t.yaml:8:" in e and "'third', which does not exist" in e for e in errors_of(source))


def test_unreachable_node() -> None:
    source = BASE + '  lonely:\n    say: {ru: "a", uk: "b", en: "c"}\n    end: true\n'
    assert "t.yaml:16: node 'lonely' is unreachable from 'first'" in errors_of(source)


def test_unknown_result_and_placeholder() -> None:
    source = BASE.replace("result: a", "result: z").replace('"Пока"', '"Пока, {name}"')
    found = errors_of(source)
    assert any("t.yaml:11:" in e and "unknown result 'z'" in e for e in found)
    assert any("unknown placeholder '{name}'" in e for e in found)


def test_unknown_router_action_and_field() -> None:
    source = BASE.replace("ask: {text: {}}", "ask: {voice: {}}").replace(
        "    end: true", "    actions: [launch]\n    set: case.password\n    end: true"
    )
    found = "\n".join(errors_of(source))
    assert "unknown router 'voice'" in found
    assert "unknown action 'launch'" in found
    assert "cannot set 'case.password'" in found


def test_choice_exits_must_all_lead_somewhere() -> None:
    source = BASE.replace(
        "ask: {text: {}}",
        'ask: {choice: {x: {ru: "x", uk: "x", en: "x"}, y: {ru: "y", uk: "y", en: "y"}}}',
    ).replace("next: second", "next: {x: second}")
    assert any("exit 'y' leads nowhere" in e for e in errors_of(source))


def test_bad_yaml_is_reported_with_a_line() -> None:
    found = errors_of(BASE + "  broken: [unclosed\n")
    assert len(found) == 1
    assert found[0].startswith("t.yaml:")
    assert "not valid YAML" in found[0]


def test_flow_validate_command_names_file_and_line_of_a_removed_ukrainian_string(
    tmp_path: Path,
) -> None:
    """Acceptance: a copy of the shipped flows with one Ukrainian string removed fails."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    copy = tmp_path / "flows"
    shutil.copytree(FLOWS, copy, ignore=shutil.ignore_patterns("scripts"))
    target = copy / "soldier_intake.yaml"
    lines = target.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith('uk: "Ваше звання'))
    del lines[index]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import io

    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("flow", "--dir", str(copy), "validate", stderr=err)
    assert f"{target}:{index}: node 'rank' say: missing translation 'uk'" in err.getvalue()


def test_the_shipped_flows_are_valid() -> None:
    flows = load_flows(FLOWS)
    assert {"soldier_intake", "relative_intake", "front_contact", "advice", "operator_call"} <= set(
        flows
    )


def test_flow_file_must_be_named_after_its_flow(tmp_path: Path) -> None:
    (tmp_path / "wrong.yaml").write_text(BASE)
    with pytest.raises(FlowInvalid, match="flow 't' must live in t.yaml"):
        load_flows(tmp_path)


def test_dedent_helper_is_not_needed() -> None:
    assert textwrap.dedent(BASE) == BASE
