"""Rate limits shared by every runtime worker: a token bucket per (tenant, connection, connector, class)
in Postgres (:class:`automate.db.connections.RateLimitStore`), so two workers calling one service share
its limit instead of each spending all of it.

A call waits for its token up to :data:`MAX_WAIT_S`; a longer queue gives the token back and fails the
attempt as ``rate_limited`` (retryable, ``retry_after`` the wait), so the step goes to a delay topic
instead of holding a worker slot. A call cancelled while it waits gives its token back too.
"""

from __future__ import annotations

import asyncio
from typing import Final

from automate.config import Settings
from automate.db.connections import RateLimitStore
from automate.db.context import pool
from automate.errors import ErrorCodes
from automate_connectors.base import RateLimit
from automate_connectors.errors import connector_error

__all__ = ["MAX_WAIT_S", "acquire", "bucket_key"]

MAX_WAIT_S: Final = 30.0


def bucket_key(tenant: str, connection: str | None, connector: str, limit_class: str) -> str:
    return f"{tenant}/{connection or '-'}/{connector}/{limit_class}"


def _take(settings: Settings, key: str, limit: RateLimit) -> float:
    with pool(settings).connection() as conn:
        return RateLimitStore(conn).take(key, rate=limit.per_second, burst=limit.burst)


def _give_back(settings: Settings, key: str) -> None:
    with pool(settings).connection() as conn:
        RateLimitStore(conn).give_back(key)


async def acquire(settings: Settings, key: str, limit: RateLimit, *, max_wait_s: float = MAX_WAIT_S) -> float:
    """Wait until a call of bucket ``key`` may go; returns the seconds waited.

    Raises:
        ConnectorError: ``rate_limited`` (retryable) when the wait would pass ``max_wait_s``.
    """
    wait = await asyncio.to_thread(_take, settings, key, limit)
    if wait > max_wait_s:
        await asyncio.to_thread(_give_back, settings, key)
        raise connector_error(ErrorCodes.RATE_LIMITED, f"rate limit {key}: the next call may go in "
                              f"{wait:.1f}s", retry_after=wait)
    if wait > 0:
        try:
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            await asyncio.shield(asyncio.to_thread(_give_back, settings, key))
            raise
    return wait
