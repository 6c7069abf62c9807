"""When a retry-tier record leaves its partition (automate.runtime.retry_worker.release_at): when due, but
never later than its tier's delay after it was produced, so that no record holds a partition longer."""

from __future__ import annotations

import pytest

from automate.runtime.retry_worker import HOP_GRACE_S, release_at
from automate.topics import RETRY_TIERS, tier_for

ONE_S, ONE_H = RETRY_TIERS[0], RETRY_TIERS[-1]
NOW = 1_800_000_000.0


def test_a_record_due_within_its_tier_is_released_when_due() -> None:
    assert release_at(NOW + 0.7, ONE_S, produced=NOW, seen=NOW) == NOW + 0.7
    assert release_at(NOW + 3599, ONE_H, produced=NOW, seen=NOW + 5) == NOW + 3599


def test_a_record_due_later_than_its_tier_allows_leaves_after_the_tier_delay_to_hop() -> None:
    assert release_at(NOW + 30, ONE_S, produced=NOW, seen=NOW) == NOW + 1.0
    assert release_at(NOW + 7200, ONE_H, produced=NOW, seen=NOW) == NOW + 3600.0  # a 2 h wait
    assert release_at(NOW + 86_400, ONE_H, produced=NOW, seen=NOW) == NOW + 3600.0  # retry.max: 1d


def test_the_delay_counts_from_when_the_record_was_produced() -> None:
    # Produced an hour ago (e.g. the worker was restarted): it has waited its tier's delay, so it leaves now.
    assert release_at(NOW + 7200, ONE_H, produced=NOW - 3601, seen=NOW) == NOW - 1
    # A timestamp in the future or none at all counts from when the worker first saw the record.
    assert release_at(NOW + 7200, ONE_H, produced=NOW + 10_000, seen=NOW) == NOW + 3600
    assert release_at(NOW + 7200, ONE_H, produced=None, seen=NOW) == NOW + 3600


def test_clock_rounding_does_not_make_a_hop() -> None:
    due = NOW + 1.0 + HOP_GRACE_S / 2
    assert release_at(due, ONE_S, produced=NOW, seen=NOW) == due


@pytest.mark.parametrize("delay", [1.5, 59, 61, 3599, 3601, 7200, 86_400 * 365])
def test_each_hop_holds_a_record_no_longer_than_its_tier_and_never_past_its_due_time(delay: float) -> None:
    due, produced, hops = NOW + delay, NOW, 0
    tier = tier_for(delay)
    while True:
        release = release_at(due, tier, produced=produced, seen=produced)
        assert release <= produced + tier.delay_s + HOP_GRACE_S and release <= due
        if release == due:
            break
        produced, hops = release, hops + 1  # hopped: produced again to the tier of what is left
        tier = tier_for(due - produced)
    assert hops <= delay // ONE_H.delay_s + 1
