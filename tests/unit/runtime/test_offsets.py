"""Committing only up to the lowest unfinished message of each partition."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from automate.runtime.offsets import OffsetTracker


def test_the_committable_offset_stops_at_the_first_unfinished_message() -> None:
    tracker = OffsetTracker()
    for offset in (10, 11, 12, 13):
        tracker.started("t", 0, offset)
    tracker.finished("t", 0, 11)
    tracker.finished("t", 0, 13)
    assert tracker.committable() == {}  # 10 is still running: nothing may be committed
    assert tracker.pending() == 2
    tracker.finished("t", 0, 10)
    assert tracker.committable() == {("t", 0): 12}  # one past 11; 12 still runs
    tracker.confirmed("t", 0, 12)
    assert tracker.committable() == {}  # the finished prefix was forgotten, its commit confirmed
    tracker.finished("t", 0, 12)
    assert tracker.committable() == {("t", 0): 14}
    assert tracker.pending() == 0


def test_an_offset_stays_owed_until_the_broker_confirms_it() -> None:
    tracker = OffsetTracker()
    for offset in (0, 1, 2):
        tracker.started("t", 0, offset)
    tracker.finished("t", 0, 0)
    assert tracker.committable() == {("t", 0): 1}
    # That commit was refused (a rebalance under way): handed out again, then with what finished since.
    assert tracker.committable() == {("t", 0): 1}
    tracker.finished("t", 0, 1)
    assert tracker.committable() == {("t", 0): 2}
    tracker.confirmed("t", 0, 1)  # a late answer to an older commit settles nothing newer
    assert tracker.committable() == {("t", 0): 2}
    tracker.confirmed("t", 0, 2)
    assert tracker.committable() == {}
    tracker.finished("t", 0, 5)  # not started here (a partition handed over and back): ignored
    assert tracker.committable() == {}


def test_partitions_are_independent_and_can_be_forgotten() -> None:
    tracker = OffsetTracker()
    tracker.started("t", 0, 5)
    tracker.started("t", 1, 7)
    tracker.started("u", 0, 1)
    tracker.finished("t", 1, 7)
    tracker.finished("u", 0, 1)
    assert tracker.committable() == {("t", 1): 8, ("u", 0): 2}
    assert tracker.committable(only={("u", 0)}) == {("u", 0): 2}
    tracker.confirmed("t", 1, 8)
    tracker.confirmed("u", 0, 2)
    tracker.forget("t", 0)  # the partition was revoked: another worker takes it from its commit
    assert tracker.pending() == 0
    assert tracker.committable() == {}


@given(st.permutations(range(30)), st.integers(min_value=0, max_value=30))
def test_never_past_an_unfinished_message(order: list[int], done: int) -> None:
    tracker = OffsetTracker()
    for offset in range(30):
        tracker.started("t", 0, offset)
    for offset in order[:done]:
        tracker.finished("t", 0, offset)
    finished = set(order[:done])
    committed = tracker.committable().get(("t", 0))
    first_unfinished = next((o for o in range(30) if o not in finished), 30)
    assert committed == (first_unfinished if first_unfinished > 0 else None)
