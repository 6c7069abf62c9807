"""Which offsets a worker may commit when it finishes messages out of order.

A worker handles many messages of a partition at once and they finish in any order; committing past an
unfinished one would lose it if the worker died. So the committable offset of a partition is one past
the longest finished prefix of what it took: a crash re-delivers everything not finished (and maybe
some finished: at-least-once).

A commit the broker refuses (a rebalance under way: ``ILLEGAL_GENERATION``) is not lost: an offset handed
out stays owed until :meth:`OffsetTracker.confirmed` and is handed out again at the next commit, or the
partition's finished work would be read again by its next owner.
"""

from __future__ import annotations

import collections
from collections.abc import Collection

__all__ = ["OffsetTracker"]


class OffsetTracker:
    """Per partition, the offsets in flight; the committable offset is one past the longest finished
    prefix, so a crash re-delivers everything not finished (and maybe some finished: at-least-once)."""

    def __init__(self) -> None:
        self._inflight: dict[tuple[str, int], collections.OrderedDict[int, bool]] = {}
        self._owed: dict[tuple[str, int], int] = {}  # handed out by committable(), not yet confirmed

    def started(self, topic: str, partition: int, offset: int) -> None:
        self._inflight.setdefault((topic, partition), collections.OrderedDict())[offset] = False

    def finished(self, topic: str, partition: int, offset: int) -> None:
        offsets = self._inflight.get((topic, partition))
        if offsets is not None and offset in offsets:  # (not a partition handed over meanwhile)
            offsets[offset] = True

    def committable(self, only: Collection[tuple[str, int]] | None = None) -> dict[tuple[str, int], int]:
        """Offsets to commit now, of every partition or of those in ``only``: each one past its finished
        prefix (which is forgotten), or the one owed since a commit not yet confirmed."""
        for tp, offsets in self._inflight.items():
            if only is not None and tp not in only:
                continue
            last = None
            while offsets:
                first = next(iter(offsets))
                if not offsets[first]:
                    break
                offsets.popitem(last=False)
                last = first
            if last is not None:
                self._owed[tp] = last + 1
        return {tp: offset for tp, offset in self._owed.items() if only is None or tp in only}

    def confirmed(self, topic: str, partition: int, offset: int) -> None:
        """The broker took ``offset`` as the partition's committed offset."""
        if self._owed.get((topic, partition), offset + 1) <= offset:
            del self._owed[(topic, partition)]

    def forget(self, topic: str, partition: int) -> None:
        self._inflight.pop((topic, partition), None)
        self._owed.pop((topic, partition), None)

    def pending(self) -> int:
        return sum(1 for offsets in self._inflight.values() for done in offsets.values() if not done)
