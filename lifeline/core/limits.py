"""Counters shared by every process through Django's cache (Redis in production, local memory in
the embedded default, which is one process).

Fixed windows: a key counts hits in the current window of ``window`` seconds and starts again at
zero in the next. Keys carry no personal value in clear: callers pass blind indexes or internal
ids, never an address or a name.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

PREFIX = "lim:"
log = logging.getLogger(__name__)


def _key(name: str, window: int) -> str:
    return f"{PREFIX}{name}:{window}:{int(time.time() // window)}"


def hit(name: str, *, limit: int, window: int) -> bool:
    """Count one hit; True while the window's count is within ``limit``. The cache unreachable
    (Redis restarting): True — limits are a brake, and the hotline must keep answering."""
    key = _key(name, window)
    try:
        cache.add(key, 0, window + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: this is the window's first hit
            cache.set(key, 1, window + 1)
            count = 1
    except Exception as exc:  # noqa: BLE001 - fail open, loudly
        log.warning("limits not counted: the cache is unreachable (%s)", type(exc).__name__)
        return True
    return count <= limit


def hit_many(items: list[tuple[str, int, int]]) -> list[bool]:
    """:func:`hit` for many (name, limit, window) at once: on Redis one pipelined round trip
    (SET NX with the expiry, then INCR, as :func:`hit` does), elsewhere one :func:`hit` each."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if not items or not isinstance(backend, RedisCache):
        return [hit(name, limit=limit, window=window) for name, limit, window in items]
    keys = [backend.make_and_validate_key(_key(name, window)) for name, _l, window in items]
    try:
        client = backend._cache.get_client(keys[0], write=True)  # type: ignore[attr-defined]
        pipe = client.pipeline(transaction=False)
        for key, (_name, _limit, window) in zip(keys, items, strict=True):
            pipe.set(key, 0, ex=window + 1, nx=True)
            pipe.incr(key)
        answers = pipe.execute()
    except Exception as exc:  # noqa: BLE001 - fail open, loudly (see hit)
        log.warning("limits not counted: the cache is unreachable (%s)", type(exc).__name__)
        return [True] * len(items)
    return [int(answers[2 * n + 1]) <= limit for n, (_name, limit, _w) in enumerate(items)]


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


class Deferred(Exception):  # noqa: N818 - a signal, not an error: "not now, later"
    """Raised inside a step whose expensive work has no budget left: the caller rolls the step
    back and keeps its input for ``seconds`` later, unprocessed and uncounted as a failure."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what}: no budget left, deferred {seconds:.0f} s")
        self.what = what
        self.seconds = seconds


def seconds_left(window: int) -> float:
    """Seconds until the current fixed window of ``window`` seconds ends."""
    return window - (time.time() % window)


def senders_admitted(senders: list[tuple[str, str]]) -> list[float]:
    """:func:`sender_admitted` for many (channel, key) at once, in one round trip on Redis."""
    table = getattr(settings, "LIFELINE_SENDER_LIMITS", {})
    items: list[tuple[str, int, int]] = []
    owners: list[int] = []
    for n, (channel, key) in enumerate(senders):
        for number, seconds in table.get(channel, ()):
            items.append((f"in:{channel}:{key}", number, seconds))
            owners.append(n)
    waits = [0.0] * len(senders)
    for owner, (_name, _limit, seconds), within in zip(owners, items, hit_many(items), strict=True):
        if not within:
            waits[owner] = max(waits[owner], seconds_left(seconds))
    return waits


def sender_admitted(channel: str, key: str) -> float:
    """Count one inbound message of a sender (``key``: the channel's ordering key, a blind
    index or an internal id) against ``LIFELINE_SENDER_LIMITS[channel]``, a list of
    (messages, seconds). 0 while within every limit; otherwise the seconds until the window
    that is full ends, when his next message may be taken."""
    wait = 0.0
    for number, seconds in getattr(settings, "LIFELINE_SENDER_LIMITS", {}).get(channel, ()):
        if not hit(f"in:{channel}:{key}", limit=number, window=seconds):
            wait = max(wait, seconds_left(seconds))
    return wait


def network_hint(address: str) -> str:
    """A keyed hash of a client's network address, for counting in the cache only: never
    stored in the database or a log. It changes every day (the day is hashed in), so the cache
    never links one day's visitors to another's; an IPv6 address counts as its /56 (a
    subscriber's usual prefix: a device picks new addresses, and a subscriber new /64s, at
    will). "" when there is
    nothing worth counting: not an address, or the loopback — the TLS proxy itself when no
    address header is configured, which would make one network of every visitor."""
    import hashlib
    import hmac
    import ipaddress

    from . import crypto

    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_unspecified or ip.is_private or ip.is_link_local:
        # The proxy itself, or a container's gateway (no address header configured), or a
        # private network: one "network" of every visitor. No hint.
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        text = str(ipaddress.IPv6Network(f"{ip}/56", strict=False))
    else:
        text = str(ip)
    day = int(time.time() // 86400)
    key = hashlib.sha256(b"lifeline/network-hint/v1\x00" + crypto.keyring().blind_index_key)
    return hmac.new(key.digest(), f"{day}\x00{text}".encode(), hashlib.sha256).hexdigest()[:24]
