"""The engine on its own: routers, retries, hand-off, operations, jumps, expiry, determinism.

Pure Python: no database."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from lifeline.conversations.engine import runner
from lifeline.conversations.engine.loader import parse_flow
from lifeline.conversations.engine.model import Flow

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def T(text: str) -> str:  # noqa: N802 - a text in all three languages, for short test flows
    return f'{{ru: "{text} (ru)", uk: "{text} (uk)", en: "{text}"}}'


def flow(nodes: str, *, name: str = "test", results: str = "[a, b, c]", extra: str = "") -> Flow:
    source = textwrap.dedent(f"""\
        spec_version: 1
        flow: {name}
        version: 1
        expire_after: 1h
        retries: 2
        handoff: {T("Handing you to an operator")}
        results: {results}
        start: first
        {extra}
        nodes:
        """) + textwrap.indent(textwrap.dedent(nodes), "  ")
    return parse_flow(source, f"{name}.yaml", ["test", "other"])


def say(step: runner.Step) -> list[str]:
    return [m.text for m in step.messages]


def test_text_question_and_answer_stored_as_result_and_case_field() -> None:
    f = flow(f"""
        first:
          say: {T("Name?")}
          ask: {{text: {{min_length: 2, max_length: 10}}}}
          result: a
          set: case.full_name
          next: done
        done:
          say: {{ru: "Спасибо, {{a}}", uk: "Дякую, {{a}}", en: "Thanks, {{a}}"}}
          end: true
        """)
    step = runner.start(f, language="en", now=NOW)
    assert say(step) == ["Name?"]
    assert step.state.status == runner.WAITING_INPUT
    step = runner.handle(f, step.state, "Ivan", now=NOW)
    assert say(step) == ["Thanks, Ivan"]
    assert step.state.status == runner.ENDED
    assert step.state.results == {"a": "Ivan"}
    assert step.state.case == {"full_name": "Ivan"}


def test_unfitting_answers_get_the_retry_then_a_hand_off() -> None:
    f = flow(f"""
        first:
          say: {T("How many?")}
          ask: {{number: {{min: 1, max: 10}}}}
          retry: {T("Write a number from 1 to 10")}
          result: a
          next: end
        """)
    step = runner.start(f, language="uk", now=NOW)
    for bad in ["many", "0", "11"]:
        if bad == "11":
            step = runner.handle(f, step.state, bad, now=NOW)
            break
        step = runner.handle(f, step.state, bad, now=NOW)
        assert say(step) == ["Write a number from 1 to 10 (uk)"]
        assert step.state.status == runner.WAITING_INPUT
    assert step.state.status == runner.HANDED_OFF
    assert say(step) == ["Handing you to an operator (uk)"]
    assert [a.kind for a in step.actions] == ["handoff"]


def test_choice_accepts_label_in_any_language_number_or_name() -> None:
    f = flow(f"""
        first:
          say: {T("Pick")}
          ask:
            choice:
              red: {T("Red")}
              blue: {T("Blue")}
          result: a
          next: {{red: r, blue: b}}
        r: {{say: {T("R")}, end: true}}
        b: {{say: {T("B")}, end: true}}
        """)
    step = runner.start(f, language="ru", now=NOW)
    assert step.messages[-1].buttons == ("Red (ru)", "Blue (ru)")
    for answer, expected in [("blue (UK)", "B (ru)"), ("1", "R (ru)"), ("blue", "B (ru)")]:
        result = runner.handle(f, step.state, answer, now=NOW)
        assert say(result) == [expected], answer
    retry = runner.handle(f, step.state, "green", now=NOW)
    assert retry.messages[-1].buttons == ("Red (ru)", "Blue (ru)")


def test_yesno_understands_three_languages() -> None:
    f = flow(f"""
        first:
          say: {T("Agree?")}
          ask: {{yesno: {{}}}}
          result: a
          next: {{yes: y, no: n}}
        y: {{say: {T("Y")}, end: true}}
        n: {{say: {T("N")}, end: true}}
        """)
    state = runner.start(f, language="en", now=NOW).state
    for word, expected in [
        ("да", "Y"),
        ("Так", "Y"),
        ("yes please", "Y"),
        ("нет", "N"),
        ("ні", "N"),
        ("No", "N"),
    ]:
        assert say(runner.handle(f, state, word, now=NOW)) == [expected], word
    assert runner.handle(f, state, "maybe", now=NOW).state.status == runner.WAITING_INPUT


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("12.03.1995", "1995-03-12"),
        ("1995-03-12", "1995-03-12"),
        ("12/03/1995", "1995-03-12"),
        ("12 . 03 . 1995", "1995-03-12"),
        ("31.02.1995", None),
        ("12.03.2020", None),
        ("12.03.1930", None),
        ("yesterday", None),
        ("01.01.2030", None),
    ],
)
def test_dates(text: str, stored: str | None) -> None:
    f = flow(f"""
        first:
          say: {T("Born?")}
          ask: {{date: {{after: 1940-01-01, min_age: 16}}}}
          result: a
          next: end
        """)
    step = runner.handle(f, runner.start(f, language="ru", now=NOW).state, text, now=NOW)
    assert step.state.results.get("a") == stored


@pytest.mark.parametrize(
    ("router", "text", "ok"),
    [
        ("{phone: {}}", "8 999 123-45-67", "+79991234567"),
        ("{phone: {}}", "hello", None),
        ('{regex: {pattern: "[А-Я]{2}-\\\\d{6}"}}', "ab-123456", None),
        ('{regex: {pattern: "[А-Я]{2}-\\\\d{6}"}}', "АБ-123456", "АБ-123456"),
    ],
)
def test_phone_and_regex(router: str, text: str, ok: str | None) -> None:
    f = flow(f"""
        first:
          say: {T("?")}
          ask: {router}
          result: a
          next: end
        """)
    step = runner.handle(f, runner.start(f, language="ru", now=NOW).state, text, now=NOW)
    assert step.state.results.get("a") == ok


def test_keywords_with_other() -> None:
    f = flow(f"""
        first:
          say: {T("?")}
          ask:
            keyword:
              front: ["фронт", "front", "на передовой"]
              other: []
          result: a
          next: {{front: f, other: o}}
        f: {{say: {T("F")}, end: true}}
        o: {{say: {T("O")}, end: true}}
        """)
    state = runner.start(f, language="en", now=NOW).state
    assert say(runner.handle(f, state, "Я на фронте!", now=NOW)) == ["F"]
    assert say(runner.handle(f, state, "я сейчас на передовой", now=NOW)) == ["F"]
    assert say(runner.handle(f, state, "hello", now=NOW)) == ["O"]


def test_do_nodes_wait_for_the_host_and_follow_its_outcome() -> None:
    f = flow(f"""
        first:
          say: {T("Code?")}
          ask: {{text: {{}}}}
          result: a
          next: check
        check:
          do: reidentify
          next: {{ok: good, failed: first, locked: bad}}
        good: {{say: {T("Welcome back")}, actions: [mark_ready, alert], end: true}}
        bad: {{say: {T("Locked")}, actions: [handoff], end: true}}
        """)
    step = runner.handle(f, runner.start(f, language="en", now=NOW).state, "x", now=NOW)
    assert step.state.status == runner.WAITING_HOST
    assert [a.kind for a in step.actions] == ["reidentify"]
    # Input while the host works is not lost into the wrong node: it is ignored.
    assert runner.handle(f, step.state, "y", now=NOW).outputs == ()
    again = runner.resume(f, step.state, "failed", now=NOW)
    assert say(again) == ["Code?"]
    done = runner.resume(f, step.state, "ok", now=NOW)
    assert say(done) == ["Welcome back"]
    assert [a.kind for a in done.actions] == ["mark_ready", "alert"]


def test_jump_to_another_flow_carries_results() -> None:
    f = flow(f"""
        first:
          say: {T("?")}
          ask: {{text: {{}}}}
          result: a
          next: "flow:other"
        """)
    step = runner.handle(f, runner.start(f, language="en", now=NOW).state, "hi", now=NOW)
    assert step.state.status == runner.ENDED
    (jump,) = step.actions
    assert jump.kind == "start_flow"
    assert jump.params == {"flow": "other", "results": {"a": "hi"}}


def test_idle_runs_expire() -> None:
    f = flow(
        f"""
        first:
          say: {T("?")}
          ask: {{text: {{}}}}
          next: end
        """,
        results="[]",
    )
    state = runner.start(f, language="en", now=NOW).state
    late = runner.handle(f, state, "hi", now=NOW + timedelta(hours=1, seconds=1))
    assert late.state.status == runner.EXPIRED
    assert [a.kind for a in late.actions] == ["expired"]
    in_time = runner.handle(f, state, "hi", now=NOW + timedelta(minutes=59))
    assert in_time.state.status == runner.ENDED


def test_actions_and_host_placeholders() -> None:
    f = flow(
        """
        first:
          actions: [open_case, issue_codename, {set_language: uk}]
          say: {ru: "Код: {codename}", uk: "Код: {codename}", en: "Code: {codename}"}
          end: true
        """,
        results="[]",
    )
    step = runner.start(f, language="en", now=NOW)
    assert [a.kind for a in step.actions] == ["open_case", "issue_codename", "set_language"]
    assert say(step) == ["Код: {codename}"]  # now in Ukrainian; the host fills the codename
    assert step.state.language == "uk"


def test_prompt_repeats_the_question_in_the_new_language() -> None:
    f = flow(
        f"""
        first:
          say: {T("Pick")}
          ask: {{choice: {{a: {T("A")}, b: {T("B")}}}}}
          next: end
        """,
        results="[]",
    )
    state = runner.start(f, language="ru", now=NOW).state
    from dataclasses import replace

    (message,) = runner.prompt(f, replace(state, language="en"))
    assert (message.text, message.buttons) == ("Pick", ("A", "B"))


def test_the_engine_is_deterministic() -> None:
    f = flow(f"""
        first:
          say: {T("Name?")}
          ask: {{text: {{}}}}
          result: a
          next: second
        second:
          say: {T("Born?")}
          ask: {{date: {{}}}}
          result: b
          next: end
        """)

    def walk() -> list[object]:
        step = runner.start(f, language="ru", now=NOW)
        seen: list[object] = [step]
        for text in ["Иван", "bad", "01.01.1990"]:
            step = runner.handle(f, step.state, text, now=NOW)
            seen.append(step)
        return seen

    assert walk() == walk()


def test_the_engine_imports_neither_django_nor_telegram() -> None:
    import ast
    from pathlib import Path

    import lifeline.conversations.engine as engine

    for path in Path(engine.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("django", "aiogram", "telegram")), (path, name)


def test_a_states_dict_is_what_asdict_gives() -> None:
    """RunState.to_dict is written out by hand (asdict's deep copy was a step's hot spot): it
    must still name every field, with equal values."""
    from dataclasses import asdict, fields

    from lifeline.conversations.engine.runner import RunState

    state = RunState(
        flow="f",
        version=3,
        language="uk",
        node="n",
        status="waiting_input",
        results={"a": 1, "unfit_answers": [{"question": "q", "text": "t"}]},
        case={"full_name": "X"},
        retries=2,
        last_activity="2026-01-01T00:00:00+00:00",
        channel="web",
    )
    assert set(state.to_dict()) == {f.name for f in fields(RunState)}
    assert state.to_dict() == asdict(state)
    assert RunState.from_dict(state.to_dict()) == state
