"""Shared fixtures. Tests mirror the code: tests/<app>/test_<module>.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from lifeline.core import crypto


@pytest.fixture(autouse=True)
def _fresh_keyring() -> Iterator[None]:
    """Each test starts from the keys in settings, whatever an earlier test rotated."""
    crypto.set_keyring(None)
    yield
    crypto.set_keyring(None)


@pytest.fixture(autouse=True)
def _fresh_keystore() -> None:
    """Each test starts with an empty key store (the database it had is gone too)."""
    from lifeline.core import keystore

    keystore.set_store(None)
    keystore.store().wipe()


@pytest.fixture(autouse=True)
def _fresh_blocks() -> Iterator[None]:
    """Each test reads the sender blocks of its own database, not an earlier test's."""
    from lifeline.contacts import blocks

    blocks.forget()
    yield
    blocks.forget()


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    """Each test starts with the shared counters (rate limits, budgets) at zero: the cache is
    this process's memory under test settings."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English unless a test switches language itself."""
    with translation.override("en"):
        yield


@pytest.fixture
def key_file(tmp_path: Any, settings: Any) -> Any:
    """Switch the process to a key file holding the current test keys; its path."""
    path = tmp_path / "keys.json"
    crypto.write_key_file(path, crypto.keyring())
    settings.LIFELINE_KEYS = ""
    settings.LIFELINE_KEY_FILE = str(path)
    crypto.set_keyring(None)
    return path


@pytest.fixture
def fake(settings: Any) -> Iterator[Any]:
    """A fake Telegram Bot API on 127.0.0.1, with the bot's settings pointing at it."""
    from tests.channels.fake_telegram import FakeTelegram

    server = FakeTelegram().start()
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.LIFELINE_TELEGRAM_API_BASE = server.base
    settings.LIFELINE_TELEGRAM_TIMEOUT = 2.0
    yield server
    server.stop()
