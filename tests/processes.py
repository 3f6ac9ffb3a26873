"""Helpers for tests that start Lifeline in another process."""

from __future__ import annotations

import os


def clean_env() -> dict[str, str]:
    """This machine's environment without Lifeline's or Django's own settings, so that the
    child process is configured only by what the test gives it."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "LIFELINE_", "DJANGO_"))
    }
