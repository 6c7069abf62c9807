"""The retry tiers: a deferred step goes to the smallest tier at least its delay."""

from __future__ import annotations

import pytest

from automate.config import Settings
from automate.topics import RETRY_TIERS, core_topics, retry_topic, tier_for


@pytest.mark.parametrize(("delay", "tier"), [
    (0.0, "1s"), (0.5, "1s"), (1.0, "1s"), (1.001, "10s"), (10.0, "10s"), (59.9, "1m"), (60.0, "1m"),
    (61.0, "10m"), (600.0, "10m"), (601.0, "1h"), (3600.0, "1h"),
    (3601.0, "1h"), (86400.0 * 365, "1h"),  # longer than the longest tier: the longest (it hops through it)
])
def test_tier_for(delay: float, tier: str) -> None:
    assert tier_for(delay).name == tier
    assert tier_for(delay).delay_s >= min(delay, RETRY_TIERS[-1].delay_s)


def test_tiers_grow_and_name_their_topics() -> None:
    delays = [tier.delay_s for tier in RETRY_TIERS]
    assert delays == sorted(delays) and len(set(delays)) == len(delays)
    settings = Settings(topic_prefix="acme")
    assert [retry_topic(settings, tier) for tier in RETRY_TIERS] == [
        "acme.retry.1s", "acme.retry.10s", "acme.retry.1m", "acme.retry.10m", "acme.retry.1h"]
    retries = [retry_topic(settings, t) for t in RETRY_TIERS]
    assert core_topics(settings) == ["acme.events", "acme.dlq", *retries]
