"""Rate limits shared by every runtime worker: a token bucket per (tenant, connection, connector, class)
in Postgres (:class:`automate.db.connections.RateLimitStore`), so two workers calling one service share
its limit instead of each spending all of it."""

from __future__ import annotations

import asyncio

from automate.config import Settings
from automate.db.connections import RateLimitStore
from automate.db.context import pool
from automate_connectors.base import RateLimit

__all__ = ["acquire", "bucket_key"]


def bucket_key(tenant: str, connection: str | None, connector: str, limit_class: str) -> str:
    return f"{tenant}/{connection or '-'}/{connector}/{limit_class}"


def _take(settings: Settings, key: str, limit: RateLimit) -> float:
    with pool(settings).connection() as conn:
        return RateLimitStore(conn).take(key, rate=limit.per_second, burst=limit.burst)


async def acquire(settings: Settings, key: str, limit: RateLimit) -> float:
    """Wait until a call of bucket ``key`` may go; returns the seconds waited."""
    wait = await asyncio.to_thread(_take, settings, key, limit)
    if wait > 0:
        await asyncio.sleep(wait)
    return wait
