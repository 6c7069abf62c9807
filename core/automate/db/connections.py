"""Named connections (table ``connection``): a connector's configuration per tenant and name."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from automate.db.store import Store

__all__ = ["ConnectionStore", "RateLimitStore"]


class ConnectionStore(Store):
    group = "connections"

    def get(self, tenant: str, name: str) -> tuple[str, dict[str, Any]] | None:
        """(connector key, configuration) of a connection."""
        row = self._one("get_connection", {"tenant": tenant, "name": name})
        return None if row is None else (str(row[0]), dict(row[1]))

    def put(self, tenant: str, name: str, connector: str, config: dict[str, Any]) -> None:
        self._execute("put_connection", {"id": str(uuid.uuid4()), "tenant": tenant, "name": name,
                                         "connector": connector, "config": Jsonb(config)})

    def delete(self, tenant: str, name: str) -> bool:
        return self._count("delete_connection", {"tenant": tenant, "name": name}) == 1

    def names(self, tenant: str) -> list[tuple[str, str, dict[str, Any], datetime]]:
        """(name, connector, configuration, updated at) of every connection of ``tenant``."""
        return [(str(r[0]), str(r[1]), dict(r[2]), r[3]) for r in self._all("list_connections",
                                                                             {"tenant": tenant})]

    def of_connectors(self, connectors: list[str]) -> list[tuple[str, str, str, dict[str, Any]]]:
        """(tenant, name, connector, configuration) of every connection of ``connectors``."""
        return [(str(r[0]), str(r[1]), str(r[2]), dict(r[3]))
                for r in self._all("connections_of", {"connectors": connectors})]


class RateLimitStore(Store):
    group = "ratelimits"

    def take(self, key: str, *, rate: float, burst: int, max_wait: float) -> tuple[float, bool, datetime]:
        """Take a token of bucket ``key`` unless its wait would pass ``max_wait`` seconds.

        Returns:
            (seconds to wait before using it, or the wait refused; whether a token was taken; when, to
            name this take to :meth:`give_back`).
        """
        params = {"key": key, "rate": rate, "burst": burst, "max_wait": max_wait}
        row = self._one("take_token", params)
        if row is None:  # the bucket's first use
            self._execute("create_bucket", params)
            row = self._one("take_token", params)
        assert row is not None
        tokens, granted, taken_at = float(row[0]), bool(row[1]), row[2]
        wait = 0.0 if tokens >= 0 else -tokens / rate
        if not granted:
            wait = (1 - tokens) / rate  # when a token would be there, for the caller's retry_after
        return wait, granted, taken_at

    def give_back(self, key: str, taken_at: datetime) -> bool:
        """Return the token :meth:`take` took at ``taken_at``, unless another take came after it."""
        return self._count("give_back_token", {"key": key, "taken_at": taken_at}) == 1
