"""The shared counters (core/limits.py) on a real Redis: a batch counted in one pipelined round
trip counts exactly as one hit at a time does, on the same keys, with their expiry."""

from __future__ import annotations

import os
import secrets

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from lifeline.core import limits
from tests.core.test_settings_cache import redis_reachable


@pytest.fixture
def redis_cache(settings: SettingsWrapper) -> None:
    if not redis_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis at 127.0.0.1:6379 is required under CI=true")
        pytest.skip("no Redis at 127.0.0.1:6379")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/12",
            "KEY_PREFIX": f"limits-test-{secrets.token_hex(6)}",
        }
    }


@pytest.mark.usefixtures("redis_cache")
def test_a_batch_counts_as_single_hits_do_on_redis() -> None:
    from django.core.cache import caches

    assert type(caches["default"]).__name__ == "RedisCache"
    assert limits.hit("a", limit=3, window=60)  # 1
    assert limits.hit_many([("a", 3, 60), ("b", 1, 60)]) == [True, True]  # a: 2, b: 1
    assert limits.hit_many([("a", 3, 60), ("b", 1, 60), ("a", 3, 60)]) == [True, False, False]
    assert limits.count("a", window=60) == 4
    assert not limits.hit("a", limit=3, window=60)  # 5
    backend = caches["default"]
    client = backend._cache.get_client()  # type: ignore[attr-defined]
    key = backend.make_and_validate_key(limits._key("b", 60))
    assert 0 < client.ttl(key) <= 61  # the window's expiry is set


def test_a_batch_in_local_memory_counts_the_same() -> None:
    assert limits.hit_many([("c", 2, 60)] * 3) == [True, True, False]
    assert limits.count("c", window=60) == 3


def test_senders_are_admitted_within_every_window(settings: SettingsWrapper) -> None:
    settings.LIFELINE_SENDER_LIMITS = {"telegram": [(2, 60), (3, 86400)]}
    waits = [limits.senders_admitted([("telegram", "k1"), ("web", "k2")]) for _ in range(4)]
    assert [w[0] == 0 for w in waits] == [True, True, False, False]
    assert 0 < waits[2][0] <= 60  # the minute is full: wait for its end
    # The day is full too: wait for whichever window ends last.
    expected = max(limits.seconds_left(60), limits.seconds_left(86400))
    assert abs(waits[3][0] - expected) < 1
    assert {w[1] for w in waits} == {0}  # a channel without limits is never held
