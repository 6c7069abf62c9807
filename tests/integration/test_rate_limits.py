"""The shared token bucket a rate-limited connector spends from (Postgres): a call whose wait would be
too long gives its token back and fails retryably with how long to wait, instead of holding a worker."""

from __future__ import annotations

import asyncio

import pytest

from automate.config import Settings
from automate.errors import ConnectorError
from automate_connectors import RateLimit
from automate_connectors.ratelimit import acquire

pytestmark = pytest.mark.integration


def test_a_long_wait_fails_retryably_and_gives_its_token_back(connector_settings: Settings) -> None:
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
    # each refused call gave its token back: the queue does not grow (it would be 10, 20, 30 s otherwise)
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
