"""A bounded least-recently-used map, for caches whose keys come from records (workflow versions, schema
ids): however many distinct keys arrive, the cache holds at most ``maxsize`` entries."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from automate.errors import UsageError

__all__ = ["LruCache"]

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """``get`` refreshes an entry; ``put`` beyond ``maxsize`` drops the least recently used one."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise UsageError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> V | None:
        return self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
