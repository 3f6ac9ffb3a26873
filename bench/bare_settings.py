"""Lifeline's production settings plus one URL: the bare one-INSERT view (bench/bare_view.py)."""

from __future__ import annotations

from lifeline.settings.prod import *  # noqa: F403

ROOT_URLCONF = "bench.bare_view"
