"""Every shipped flow, in every language, through ``flow simulate --script``."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lifeline.conversations.engine import LANGUAGES
from lifeline.conversations.engine.loader import load_flows

FLOWS = Path(__file__).resolve().parents[2] / "flows"
SHIPPED = sorted(load_flows(FLOWS))


def test_every_flow_is_shipped() -> None:
    assert set(SHIPPED) == {
        "soldier_intake",
        "relative_intake",
        "front_contact",
        "advice",
        "operator_call",
    }


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", SHIPPED)
def test_transcript(name: str, language: str) -> None:
    script = FLOWS / "scripts" / f"{name}.{language}.yaml"
    assert script.exists(), f"write {script.relative_to(FLOWS.parent)}"
    out = StringIO()
    call_command("flow", "simulate", name, "--lang", language, "--script", str(script), stdout=out)
    assert "steps as expected" in out.getvalue()


def test_a_mismatch_fails_and_says_where(tmp_path: Path) -> None:
    script = tmp_path / "bad.yaml"
    script.write_text(
        "flow: soldier_intake\nlang: en\nsteps:\n"
        '  - expect: "Who are you?"\n'
        '  - send: "1"\n    expect: "What is your favourite colour?"\n',
        encoding="utf-8",
    )
    with pytest.raises(
        CommandError, match="step 2: expected a reply containing 'What is your favourite colour\\?'"
    ):
        call_command(
            "flow",
            "simulate",
            "soldier_intake",
            "--lang",
            "en",
            "--script",
            str(script),
            stdout=StringIO(),
        )


def test_interactive_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["Хочу спершу поставити запитання"])

    def fake_input(prompt: str = "") -> str:
        try:
            return next(answers)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)
    out = StringIO()
    call_command("flow", "simulate", "soldier_intake", "--lang", "uk", stdout=out)
    text = out.getvalue()
    assert "bot: Вітаємо." in text
    assert "[Військовий, хочу подати заявку]" in text
    assert "(advice: waiting_input)" in text
