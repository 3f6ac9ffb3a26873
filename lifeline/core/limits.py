"""Counters shared by every process through Django's cache (Redis in production, local memory in
the embedded default, which is one process).

Fixed windows: a key counts hits in the current window of ``window`` seconds and starts again at
zero in the next. Keys carry no personal value in clear: callers pass blind indexes or internal
ids, never an address or a name.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

PREFIX = "lim:"


def _key(name: str, window: int) -> str:
    return f"{PREFIX}{name}:{window}:{int(time.time() // window)}"


def hit(name: str, *, limit: int, window: int) -> bool:
    """Count one hit; True while the window's count is within ``limit``."""
    key = _key(name, window)
    cache.add(key, 0, window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this is the window's first hit
        cache.set(key, 1, window + 1)
        count = 1
    return count <= limit


def count(name: str, *, window: int) -> int:
    """Hits so far in the current window."""
    value = cache.get(_key(name, window))
    return int(value) if value is not None else 0


def budget(name: str, *, channel: str = "") -> bool:
    """Take one unit of a global budget for expensive work (settings ``LIFELINE_BUDGETS``:
    name -> (units, seconds)). False when it is spent: the caller must not do the work.

    With a ``channel`` that has a share in ``LIFELINE_BUDGET_SHARES``, the unit comes from that
    channel's part of the budget only: a flood on one channel spends its own part and leaves the
    other channels theirs."""
    units, seconds = settings.LIFELINE_BUDGETS[name]
    share = getattr(settings, "LIFELINE_BUDGET_SHARES", {}).get(name, {}).get(channel)
    if share is not None:
        return hit(f"budget:{name}:{channel}", limit=max(1, int(units * share)), window=seconds)
    return hit(f"budget:{name}", limit=units, window=seconds)
