"""Rate limits shared by every runtime worker: a token bucket per (tenant, connection, connector, class)
in Postgres (:class:`automate.db.connections.RateLimitStore`), so two workers calling one service share
its limit instead of each spending all of it.

A call waits for its token, up to :data:`MAX_WAIT_S`: a queue longer than that means the limit is far
below the load, so the call takes no token and fails the attempt as ``rate_limited`` (retryable,
``retry_after`` when the queue will have drained) instead of holding a worker slot for many minutes. A
call cancelled while it waits (its step's timeout) gives its token back unless others took after it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Final

from automate.config import Settings
from automate.db.connections import RateLimitStore
from automate.db.context import pool
from automate.errors import ErrorCodes
from automate_connectors.base import RateLimit
from automate_connectors.errors import connector_error

__all__ = ["MAX_WAIT_S", "acquire", "bucket_key"]

MAX_WAIT_S: Final = 300.0


def bucket_key(tenant: str, connection: str | None, connector: str, limit_class: str) -> str:
    return f"{tenant}/{connection or '-'}/{connector}/{limit_class}"


def _take(settings: Settings, key: str, limit: RateLimit, max_wait_s: float) -> tuple[float, bool, datetime]:
    with pool(settings).connection() as conn:
        return RateLimitStore(conn).take(key, rate=limit.per_second, burst=limit.burst, max_wait=max_wait_s)


def _give_back(settings: Settings, key: str, taken_at: datetime) -> None:
    with pool(settings).connection() as conn:
        RateLimitStore(conn).give_back(key, taken_at)


async def acquire(settings: Settings, key: str, limit: RateLimit, *, max_wait_s: float = MAX_WAIT_S) -> float:
    """Wait until a call of bucket ``key`` may go; returns the seconds waited.

    Raises:
        ConnectorError: ``rate_limited`` (retryable) when the wait would pass ``max_wait_s``.
    """
    wait, granted, taken_at = await asyncio.to_thread(_take, settings, key, limit, max_wait_s)
    if not granted:
        raise connector_error(ErrorCodes.RATE_LIMITED, f"rate limit {key}: the calls queued already take "
                              f"{wait:.0f}s", retry_after=wait)
    if wait > 0:
        try:
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            await asyncio.shield(asyncio.to_thread(_give_back, settings, key, taken_at))
            raise
    return wait
