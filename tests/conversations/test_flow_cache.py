"""Flows are compiled once per content, so /start costs what any other step costs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.contacts.services import identity_get_or_create
from lifeline.conversations import host
from lifeline.conversations.models import Conversation, FlowVersion
from lifeline.core.channels import Channel

pytestmark = pytest.mark.django_db

FLOWS = Path(__file__).resolve().parents[2] / "flows"


@pytest.fixture
def compilations(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = host.load_flows

    def counting(folder: Path) -> Any:
        calls.append(folder)
        return real(folder)

    monkeypatch.setattr(host, "load_flows", counting)
    monkeypatch.setattr(host, "_compiled", None)
    return calls


def conversation() -> Conversation:
    identity = identity_get_or_create(channel=Channel.WEB, address="flow-cache-token")
    return Conversation.objects.create(
        contact=identity.contact, identity=identity, channel=Channel.WEB, language="en"
    )


def test_start_compiles_the_flows_once(compilations: list[Path]) -> None:
    chat = conversation()
    for _ in range(5):
        host.conversation_input(chat, "/start")
        host.conversation_input(chat, "A serviceman, I want to apply")
    assert len(compilations) == 1
    assert FlowVersion.objects.filter(name="soldier_intake").count() == 1


def test_a_changed_flow_file_is_compiled_again(
    compilations: list[Path], settings: SettingsWrapper, tmp_path: Path
) -> None:
    folder = tmp_path / "flows"
    shutil.copytree(FLOWS, folder, ignore=shutil.ignore_patterns("scripts"))
    settings.LIFELINE_FLOWS_DIR = folder
    chat = conversation()
    before = host.conversation_input(chat, "/start")[0].text
    advice = folder / "soldier_intake.yaml"
    text = advice.read_text(encoding="utf-8")
    changed = re.sub(r"\nversion: \d+\n", "\nversion: 99\n", text, count=1).replace(
        "confidential. Who are you?", "confidential. Who is writing?"
    )
    assert changed != text
    advice.write_text(changed, encoding="utf-8")
    after = host.conversation_input(chat, "/start")[0].text
    assert len(compilations) == 2
    assert before != after
    assert "Who is writing?" in after
