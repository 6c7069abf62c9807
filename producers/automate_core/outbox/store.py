"""The relay's view of the outbox: claim due rows with SKIP LOCKED and a lease, then settle them."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.rows import tuple_row

from automate.config import Settings, get_settings
from automate.db.queries import array_literal, query
from automate.errors import UsageError

__all__ = ["HeldBatch", "HeldClaimStore", "OutboxItem", "OutboxStore", "SkipLockedClaimOutboxStore"]

log = logging.getLogger("automate.relay")


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
    traceparent: str | None = None  # the emitter's W3C trace context


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
            raise UsageError("lease_seconds must be positive")
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
        items = [OutboxItem(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], r[7], r[8], r[9]) for r in rows]
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

    def waiting(self) -> tuple[int, float | None]:
        """Rows not yet published (pending or claimed) and the age of the oldest in seconds."""
        row = self._connection().execute(query("outbox", "waiting")).fetchone()
        return (0, None) if row is None else (int(row[0]), None if row[1] is None else float(row[1]))


@functools.lru_cache(maxsize=8)
def _claim_sql(limit: int) -> str:
    """BEGIN and the claim of ``limit`` rows as one simple query (no parameters: the limit is an int)."""
    return "BEGIN;\n" + query("outbox", "hold_batch").replace("%(limit)s", str(int(limit)))


class HeldBatch:
    """Rows claimed by an open transaction (see :class:`HeldClaimStore`); settle or release it once."""

    def __init__(self, store: HeldClaimStore, conn: psycopg.Connection[Any], items: list[OutboxItem],
                 ctids: dict[str, str]) -> None:
        self._store = store
        self._conn: psycopg.Connection[Any] | None = conn
        self.items = items
        self._ctids = ctids  # row id: ctid

    def settle(self, published: Sequence[str], retry: Sequence[str] = (), *,
               next_attempt: datetime | None = None, error: str = "",
               failed: Mapping[str, str] | None = None) -> None:
        """Delete the ``published`` rows, put ``retry`` back for ``next_attempt`` and mark the ``failed``
        rows (row id: error) failed, in one commit."""
        conn, self._conn = self._conn, None
        if conn is None:
            raise UsageError("this batch was settled or released already")
        try:
            with conn.pipeline():  # one round trip
                if published:
                    conn.execute(query("outbox", "delete_held"),
                                 {"ctids": array_literal(self._ctids[i] for i in published)})
                if retry:
                    conn.execute(query("outbox", "retry_held"),
                                 {"ctids": array_literal(self._ctids[i] for i in retry),
                                  "next_attempt_at": next_attempt, "error": error[:2000]})
                for ident, reason in (failed or {}).items():
                    conn.execute(query("outbox", "fail_held"),
                                 {"ctids": array_literal([self._ctids[ident]]), "error": reason[:2000]})
                conn.execute("COMMIT")
        except BaseException:
            conn.close()  # whatever it held is rolled back: the rows are due again
            raise
        self._store._give_back(conn, deleted=len(published))

    def release(self) -> None:
        """Give the rows back untouched (rollback): any relay may claim them again."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            conn.close()
            return
        self._store._give_back(conn, deleted=0)


class HeldClaimStore:
    """The built-in relay's claims: rows locked by the claiming transaction, not marked with a lease.

    ``claim`` selects due rows ``FOR UPDATE SKIP LOCKED`` and keeps the transaction open while the rows
    are produced; settling deletes the published rows and commits. A claim thus writes nothing (a lease
    would write every row twice more: claimed, then deleted), and a relay that dies gives its rows back
    at once, when Postgres drops its connection. A relay that hangs holding a batch is cut off after
    ``hold_seconds`` (``idle_in_transaction_session_timeout``), which rolls its batch back the same way.

    Batches are held on connections of their own, so several can wait for their acknowledgements while
    the next one is claimed. Published rows leave dead entries at the oldest end of the index the claim
    reads first, so the store vacuums the outbox after every ``vacuum_every`` deleted rows.
    """

    def __init__(self, hold_seconds: float = 30.0, *, settings: Settings | None = None,
                 conninfo: str | None = None, vacuum_every: int = 2000) -> None:
        if hold_seconds <= 0:
            raise UsageError("hold_seconds must be positive")
        self.hold_seconds = hold_seconds
        self.vacuum_every = vacuum_every
        self._conninfo = conninfo or (settings or get_settings()).dsn
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._deleted = 0  # rows deleted since the last vacuum
        self._last_vacuum = 0.0
        self._vacuum_thread: threading.Thread | None = None
        self._maintenance: psycopg.Connection[Any] | None = None  # vacuums (autocommit)

    def _connect(self) -> psycopg.Connection[Any]:
        # Unprepared statements: a plan cached while the outbox was nearly empty would scan it whole later.
        # Autocommit, with BEGIN and COMMIT sent in the same round trip as the statements they enclose.
        timeout_ms = int(self.hold_seconds * 1000)
        return psycopg.connect(self._conninfo, autocommit=True, row_factory=tuple_row,
                               application_name="automate-relay", prepare_threshold=None,
                               options=f"-c idle_in_transaction_session_timeout={timeout_ms}")

    @staticmethod
    def listen(conn: psycopg.Connection[Any]) -> None:
        """Receive on ``conn`` (autocommit, a connection of its own) a notification at the commit of
        every transaction that inserts outbox rows."""
        conn.execute(query("outbox", "listen"))

    def claim(self, limit: int) -> HeldBatch | None:
        """Hold up to ``limit`` due rows, oldest first; None when nothing is due."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            conn = self._connect()
        # BEGIN and the claim in one simple query: one round trip. (Not a pipeline: the flush psycopg
        # sends after one leaves Postgres's idle-in-transaction timer unarmed, so a hung relay's batch
        # would be held for ever.)
        sql = _claim_sql(limit)
        try:
            cur = conn.execute(sql)
            cur.nextset()
            rows = cur.fetchall()
            if not rows:
                conn.execute("ROLLBACK")
        except BaseException:
            conn.close()
            raise
        if not rows:
            self._give_back(conn, deleted=0)
            return None
        items = [OutboxItem(r[1], r[2], r[3], r[4], r[5], bytes(r[6]), r[7], r[8], r[9], r[10]) for r in rows]
        items.sort(key=lambda i: (i.created_at, i.id))
        return HeldBatch(self, conn, items, {r[1]: r[0] for r in rows})

    def _give_back(self, conn: psycopg.Connection[Any], *, deleted: int) -> None:
        with self._lock:
            self._idle.append(conn)
            self._deleted += deleted
            running = self._vacuum_thread is not None and self._vacuum_thread.is_alive()
            if (self._deleted >= self.vacuum_every and not running
                    and time.monotonic() - self._last_vacuum >= 1.0):
                self._deleted, self._last_vacuum = 0, time.monotonic()
                # In a thread of its own: settling goes on meanwhile.
                self._vacuum_thread = threading.Thread(target=self._vacuum, name="automate-relay-vacuum",
                                                       daemon=True)
                self._vacuum_thread.start()

    def _vacuum(self) -> None:
        try:
            if self._maintenance is None or self._maintenance.closed:
                self._maintenance = self._connect()
            self._maintenance.execute(query("outbox", "vacuum"))
        # (Run by a role that does not own the table, VACUUM only warns and skips it: autovacuum's job.)
        except psycopg.Error as exc:  # e.g. the database restarting: the next vacuum will do
            log.info("outbox vacuum failed", extra={"action": "relay.vacuum_failed", "error": str(exc)})

    def close(self) -> None:
        if self._vacuum_thread is not None:
            self._vacuum_thread.join(30)
        with self._lock:
            idle, self._idle = self._idle, []
            maintenance, self._maintenance = self._maintenance, None
        for conn in [*idle, *([maintenance] if maintenance else [])]:
            conn.close()
