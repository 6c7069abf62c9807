"""The outbox's insert side: one row per event, in the transaction of the code that emits it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automate.db.store import AsyncStore, Store

__all__ = ["AsyncOutboxWriter", "OutboxRow", "OutboxWriter"]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One event, ready to be inserted (its payload already in the Confluent wire format)."""

    id: str
    tenant: str
    topic: str
    key: str
    type: str
    payload: bytes
    dedupe_key: str | None
    created_at: datetime  # naive UTC: the column is `timestamp`, as Debezium's EventRouter wants
    traceparent: str | None = None  # the emitting span's W3C trace context (automate.tracing)

    def params(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "topic": self.topic,
            "key": self.key,
            "type": self.type,
            "payload": self.payload,
            "dedupe_key": self.dedupe_key,
            "created_at": self.created_at,
            "traceparent": self.traceparent,
        }


class OutboxWriter(Store):
    """Inserts outbox rows through the caller's cursor (async twin: :class:`AsyncOutboxWriter`).

    One INSERT whatever the publisher: the database's publisher trigger (see
    :func:`automate.db.set_publisher`) deletes the row at once for Debezium or wakes the relay.
    """

    group = "outbox"

    def insert(self, row: OutboxRow) -> str:
        """Insert ``row``; returns its event id, or the first event's when its dedupe key was taken."""
        params = row.params()
        if row.dedupe_key is None:
            self._execute("insert_event", params)
            return row.id
        if self._one("insert_event_deduped", params) is not None:
            return row.id
        found = self._one("find_deduped", params)
        assert found is not None, "a taken dedupe key has its row once the claimer committed"
        return str(found[0])


    def deduped(self, tenant: str, dedupe_key: str) -> str | None:
        """The event id an earlier emit with ``dedupe_key`` got, or None when there was none."""
        found = self._one("find_deduped", {"tenant": tenant, "dedupe_key": dedupe_key})
        return None if found is None else str(found[0])


class AsyncOutboxWriter(AsyncStore):
    """Async twin of :class:`OutboxWriter`."""

    group = "outbox"

    async def insert(self, row: OutboxRow) -> str:
        params = row.params()
        if row.dedupe_key is None:
            await self._execute("insert_event", params)
            return row.id
        if await self._one("insert_event_deduped", params) is not None:
            return row.id
        found = await self._one("find_deduped", params)
        assert found is not None, "a taken dedupe key has its row once the claimer committed"
        return str(found[0])
