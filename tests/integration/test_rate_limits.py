"""The shared token bucket a rate-limited connector spends from (Postgres): a call whose wait would be
too long takes no token and fails retryably with how long to wait, instead of holding a worker; a
cancelled wait gives its token back only when nobody queued behind it."""

from __future__ import annotations

import asyncio

import pytest

from automate.config import Settings
from automate.errors import ConnectorError
from automate_connectors import RateLimit
from automate_connectors.ratelimit import acquire

pytestmark = pytest.mark.integration


def test_a_long_wait_fails_retryably_and_takes_no_token(connector_settings: Settings) -> None:
    slow = RateLimit(per_second=0.1, burst=1)  # a call every ten seconds

    async def scenario() -> tuple[float, list[ConnectorError]]:
        first = await acquire(connector_settings, "acme/-/test/slow", slow, max_wait_s=1.0)
        refused: list[ConnectorError] = []
        for _ in range(3):
            with pytest.raises(ConnectorError) as caught:
                await acquire(connector_settings, "acme/-/test/slow", slow, max_wait_s=1.0)
            refused.append(caught.value)
        return first, refused

    first, refused = asyncio.run(scenario())
    assert first == 0.0
    assert all((e.code, e.retryable) == ("rate_limited", True) for e in refused)
    waits = [e.retry_after or 0.0 for e in refused]
    # no refused call took a token: the queue does not grow (it would be 10, 20, 30 s otherwise)
    assert all(8.0 < wait <= 10.0 for wait in waits), waits


def test_a_cancelled_wait_gives_its_token_back(connector_settings: Settings) -> None:
    limit = RateLimit(per_second=1.0, burst=1)
    key = "acme/-/test/cancel"

    async def scenario() -> float:
        await acquire(connector_settings, key, limit)
        waiting = asyncio.ensure_future(acquire(connector_settings, key, limit))
        await asyncio.sleep(0.3)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.8)  # the first token is earned back by now
        return await acquire(connector_settings, key, limit)

    assert asyncio.run(scenario()) == 0.0  # without the give-back it would wait for the cancelled one's slot


def test_a_cancelled_wait_with_callers_behind_it_keeps_its_slot_spent(connector_settings: Settings) -> None:
    limit = RateLimit(per_second=1.0, burst=1)
    key = "acme/-/test/behind"

    async def scenario() -> float:
        await acquire(connector_settings, key, limit)  # now
        second = asyncio.ensure_future(acquire(connector_settings, key, limit))  # in 1 s
        await asyncio.sleep(0.1)
        third = asyncio.ensure_future(acquire(connector_settings, key, limit))  # in 2 s
        await asyncio.sleep(0.1)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        waited = await acquire(connector_settings, key, limit)  # behind the third: about 3 s from the start
        await third
        return waited

    # a token back would have let this call go with the third, both about 2 s from the start
    assert asyncio.run(scenario()) > 2.3
