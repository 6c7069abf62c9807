"""The relay's view of the outbox: claim due rows with SKIP LOCKED and a lease, then settle them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.rows import tuple_row

from automate.config import Settings, get_settings
from automate.db.queries import array_literal, query

__all__ = ["OutboxItem", "OutboxStore", "SkipLockedClaimOutboxStore"]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One claimed outbox row: everything needed to publish it."""

    id: str
    tenant: str
    topic: str  # the aggregatetype column
    key: str  # the aggregateid column
    type: str
    payload: bytes
    created_at: datetime  # naive UTC
    attempts: int
    dedupe_key: str | None = None


class OutboxStore(Protocol):
    """What a relay needs of an outbox."""

    def claim_batch(self, owner: str, limit: int = 10) -> list[OutboxItem]: ...

    def mark_success(self, item_id: str, owner: str) -> bool: ...

    def mark_retry(self, item_id: str, owner: str, next_attempt: datetime, error: str) -> bool: ...

    def mark_failed(self, item_id: str, owner: str, error: str) -> bool: ...


class SkipLockedClaimOutboxStore:
    """Outbox claims for any number of relays side by side, without double publishing.

    A claim marks rows ``claimed`` by ``owner`` until ``lease_seconds`` from now; relays skip rows
    others hold (``FOR UPDATE SKIP LOCKED``). A settle call only acts on rows the owner still holds, so a
    relay whose lease was reaped cannot settle rows another relay has since claimed.
    """

    def __init__(self, lease_seconds: float = 300, *, settings: Settings | None = None,
                 conninfo: str | None = None) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.lease_seconds = lease_seconds
        self._conninfo = conninfo or (settings or get_settings()).dsn
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            # Every statement planned for the table as it is now (no server-side prepared statements):
            # a plan cached while the outbox was nearly empty would scan it whole once it is not.
            self._conn = psycopg.connect(self._conninfo, autocommit=True, row_factory=tuple_row,
                                         application_name="automate-relay", prepare_threshold=None)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def claim_batch(self, owner: str, limit: int = 10) -> list[OutboxItem]:
        """Claim up to ``limit`` due rows, oldest first (per-key order holds within a relay)."""
        rows = self._connection().execute(
            query("outbox", "claim_batch"),
            {"owner": owner, "limit": limit, "lease_seconds": self.lease_seconds},
        ).fetchall()
        items = [OutboxItem(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], r[7], r[8]) for r in rows]
        items.sort(key=lambda i: (i.created_at, i.id))
        return items

    def _settle(self, name: str, ids: Sequence[str], owner: str, **extra: Any) -> int:
        cur = self._connection().execute(query("outbox", name),
                                         {"ids": array_literal(ids), "owner": owner, **extra})
        return cur.rowcount

    def mark_success(self, item_id: str, owner: str) -> bool:
        return self._settle("mark_success", [item_id], owner) == 1

    def mark_success_many(self, item_ids: Sequence[str], owner: str) -> int:
        return self._settle("mark_success", item_ids, owner)

    def mark_retry(self, item_id: str, owner: str, next_attempt: datetime, error: str) -> bool:
        return self.mark_retry_many([item_id], owner, next_attempt, error) == 1

    def mark_retry_many(self, item_ids: Sequence[str], owner: str, next_attempt: datetime,
                        error: str) -> int:
        return self._settle("mark_retry", item_ids, owner, next_attempt_at=next_attempt, error=error[:2000])

    def mark_failed(self, item_id: str, owner: str, error: str) -> bool:
        return self._settle("mark_failed", [item_id], owner, error=error[:2000]) == 1

    def backlog(self) -> dict[str, int]:
        """Rows by status (published rows are deleted, so they do not appear)."""
        rows = self._connection().execute(query("outbox", "backlog")).fetchall()
        return {str(status): int(count) for status, count in rows}
