"""The bounded cache that keeps record-driven caches (workflow versions, specs) from growing for ever."""

from __future__ import annotations

import pytest

from automate.errors import UsageError
from automate.lru import LruCache


def test_holds_at_most_maxsize_entries_dropping_the_least_recently_used() -> None:
    cache: LruCache[int, str] = LruCache(3)
    for key in range(3):
        cache.put(key, str(key))
    assert cache.get(0) == "0"  # 0 is now the most recently used; 1 the least
    cache.put(3, "3")
    assert len(cache) == 3
    assert 1 not in cache
    assert [cache.get(k) for k in (0, 2, 3)] == ["0", "2", "3"]


def test_a_flood_of_distinct_keys_stays_bounded() -> None:
    cache: LruCache[tuple[str, int], int] = LruCache(100)
    for n in range(100_000):
        cache.put(("automation", n), n)
    assert len(cache) == 100
    assert cache.get(("automation", 99_999)) == 99_999
    assert cache.get(("automation", 0)) is None


def test_put_of_a_known_key_replaces_without_growing() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("a", 2)
    assert len(cache) == 1 and cache.get("a") == 2


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(UsageError):
        LruCache(0)
