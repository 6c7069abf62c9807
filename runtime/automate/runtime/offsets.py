"""Which offsets a worker may commit when it finishes messages out of order.

A worker handles many messages of a partition at once and they finish in any order; committing past an
unfinished one would lose it if the worker died. So the committable offset of a partition is one past
the longest finished prefix of what it took: a crash re-delivers everything not finished (and maybe
some finished: at-least-once).
"""

from __future__ import annotations

import collections

__all__ = ["OffsetTracker"]


class OffsetTracker:
    """Per partition, the offsets in flight; the committable offset is one past the longest finished
    prefix, so a crash re-delivers everything not finished (and maybe some finished: at-least-once)."""

    def __init__(self) -> None:
        self._inflight: dict[tuple[str, int], collections.OrderedDict[int, bool]] = {}

    def started(self, topic: str, partition: int, offset: int) -> None:
        self._inflight.setdefault((topic, partition), collections.OrderedDict())[offset] = False

    def finished(self, topic: str, partition: int, offset: int) -> None:
        self._inflight[(topic, partition)][offset] = True

    def committable(self) -> dict[tuple[str, int], int]:
        """Offsets to commit now (and forgets the finished prefix)."""
        out: dict[tuple[str, int], int] = {}
        for tp, offsets in self._inflight.items():
            last = None
            while offsets:
                first = next(iter(offsets))
                if not offsets[first]:
                    break
                offsets.popitem(last=False)
                last = first
            if last is not None:
                out[tp] = last + 1
        return out

    def forget(self, topic: str, partition: int) -> None:
        self._inflight.pop((topic, partition), None)

    def pending(self) -> int:
        return sum(1 for offsets in self._inflight.values() for done in offsets.values() if not done)
