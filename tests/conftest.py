"""Shared fixtures. Tests mirror the code: tests/<app>/test_<module>.py."""

from __future__ import annotations

from collections.abc import Iterator

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
def _english() -> Iterator[None]:
    """Messages are asserted in English unless a test switches language itself."""
    with translation.override("en"):
        yield
