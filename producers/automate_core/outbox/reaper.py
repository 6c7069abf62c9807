"""Recovering outbox rows whose relay died or hangs mid-batch."""

from __future__ import annotations

from typing import Any

import psycopg

from automate.config import Settings, get_settings
from automate.db.queries import query
from automate.errors import UsageError

__all__ = ["OutboxReaper"]


class OutboxReaper:
    """Puts claimed rows back to pending when their lease expired or their claim is older than
    ``stale_threshold_seconds``, so that another relay publishes them."""

    def __init__(self, stale_threshold_seconds: float = 600, *, settings: Settings | None = None,
                 conninfo: str | None = None) -> None:
        if stale_threshold_seconds <= 0:
            raise UsageError("stale_threshold_seconds must be positive")
        self.stale_threshold_seconds = stale_threshold_seconds
        self._conninfo = conninfo or (settings or get_settings()).dsn

    def reap_stale_items(self, conn: psycopg.Connection[Any] | None = None) -> int:
        """Returns how many rows were recovered."""
        params = {"stale_seconds": self.stale_threshold_seconds}
        if conn is not None:
            return conn.execute(query("outbox", "reap_stale"), params).rowcount
        with psycopg.connect(self._conninfo, autocommit=True) as own:
            return own.execute(query("outbox", "reap_stale"), params).rowcount
