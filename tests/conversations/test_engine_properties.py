"""Property-based: whatever a person types, the engine does not crash, and every run stays on a
valid node of its flow or ends (ended, handed off, expired)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifeline.conversations.engine import runner
from lifeline.conversations.engine.loader import load_flows
from lifeline.conversations.engine.model import LANGUAGES, OPERATIONS, Flow

FLOWS = load_flows(Path(__file__).resolve().parents[2] / "flows")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
END_STATES = {runner.ENDED, runner.HANDED_OFF, runner.EXPIRED}


def labels(flow: Flow) -> list[str]:
    out: list[str] = []
    for node in flow.nodes.values():
        if node.router is not None:
            for category in node.router.categories:
                if category.label is not None:
                    out.extend(category.label.values.values())
    return out or ["x"]


ALL_LABELS = sorted({label for flow in FLOWS.values() for label in labels(flow)})

inputs = st.one_of(
    st.text(max_size=40),
    st.sampled_from(ALL_LABELS),
    st.sampled_from(
        [
            "1",
            "2",
            "3",
            "9",
            "да",
            "нет",
            "так",
            "ні",
            "yes",
            "no",
            "12.03.1995",
            "31.02.1990",
            "1995-03-12",
            "+79991234567",
            "0",
            "-5",
            "1000000",
            " ",
            "/start",
            "{codename}",
            "%s",
            "{0}",
        ]
    ),
    st.integers(min_value=-10, max_value=10**6).map(str),
)


def check_state(flow: Flow, state: runner.RunState) -> None:
    if state.status in END_STATES:
        assert state.node is None
    else:
        assert state.status in (runner.WAITING_INPUT, runner.WAITING_HOST)
        assert state.node in flow.nodes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(FLOWS)),
    language=st.sampled_from(LANGUAGES),
    moves=st.lists(
        st.tuples(
            inputs, st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=7200)
        ),
        max_size=30,
    ),
)
def test_random_input_never_crashes_and_runs_stay_valid(
    name: str, language: str, moves: list[tuple[str, int, int]]
) -> None:
    flow = FLOWS[name]
    now = NOW
    step = runner.start(flow, language=language, now=now)
    check_state(flow, step.state)
    for text, pick, pause in moves:
        now += timedelta(seconds=pause)
        if step.state.status == runner.WAITING_HOST:
            node = flow.nodes[step.state.node or ""]
            outcomes = sorted(OPERATIONS[node.do or ""])
            step = runner.resume(flow, step.state, outcomes[pick % len(outcomes)], now=now)
        else:
            step = runner.handle(flow, step.state, text, now=now)
        check_state(flow, step.state)
        for message in step.messages:
            assert isinstance(message.text, str)
        if step.state.status in END_STATES:
            break
