"""Group commit for the runtime's state writes.

Postgres commits a few thousand single-row transactions per second on this kind of machine but writes
tens of thousands of rows per second in batches, so the step results of all the executions a worker runs
at once are queued and written together: one transaction, one round trip, one commit per batch, and one
set-based statement per kind of write, its rows passed as one JSON array (``json_to_recordset``), so a
batch of 500 step results costs Postgres and the worker about what a few single rows do. (JSON, not one
array parameter per column: psycopg dumps arrays element by element in Python; orjson, not the json
module: measured here, 1.8 µs per execution's rows instead of 21.)
Each write returns the execution's status as of that commit, which is how a running execution learns it
was canceled without a query of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, NamedTuple, TypeVar

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from automate.db.queries import array_literal, query

__all__ = ["MAX_BATCH", "WRITES", "BatchPlan", "StateReader", "StateWriter", "Write", "Written",
           "database_away", "plan_batch", "rows_json", "take_batch"]

T = TypeVar("T")

log = logging.getLogger("automate.runtime.state")

MAX_BATCH = 500  # writes of this many executions at most in one batch

# The writes (queries of runtime.sql), in the order a batch runs them. A write's params are the JSON
# object of its row: the columns its query names, JSON columns as values (not as text).
WRITES = ("run_execution", "create_execution", "start_execution", "record_step", "finish_execution")

Write = tuple[str, dict[str, Any]]  # (query name, row)


class Written(NamedTuple):
    status: str | None  # the execution's status after the commit; None: there is no such execution
    created: bool  # a create_execution inserted the execution (False: it existed already)


_Item = tuple[list[Write], "asyncio.Future[Written]"]


def _execution_of(params: dict[str, Any]) -> str:
    return str(params.get("execution_id") or params.get("id"))


class StateWriter:
    """Queue of writes flushed in batches by background tasks."""

    def __init__(self, pool: AsyncConnectionPool, *, flushers: int = 3) -> None:
        self.pool = pool
        self.flushers = flushers  # batches in flight at once: one commits while the next one fills
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []  # running (one that died of a bug is replaced)
        self.batches = 0
        self.writes = 0

    def _start_flushers(self) -> None:
        while len(self._tasks) < self.flushers:
            task = asyncio.create_task(self._run(), name="automate-state-writer")
            task.add_done_callback(self._tasks.remove)
            self._tasks.append(task)

    async def write(self, name: str, params: dict[str, Any]) -> Written:
        """Run write ``name`` (one of :data:`WRITES`) in the next batch."""
        return await self.write_all([(name, params)])

    async def write_all(self, writes: list[Write]) -> Written:
        """Run ``writes`` (all of one execution) in the same batch, so they commit together."""
        if len(self._tasks) < self.flushers:
            self._start_flushers()
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((writes, future))
        return await future

    async def close(self) -> None:
        """Flush what is queued, then stop the background tasks."""
        while self._tasks and not self._queue.empty():  # (a finished task leaves the list)
            await asyncio.sleep(0.01)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            batch = await take_batch(self._queue)
            try:
                statuses, created = await self._flush(batch)
            except Exception as exc:
                # One bad write must not fail its neighbours: write them one execution at a time.
                log.warning("batch write failed, retrying one by one",
                            extra={"action": "state.batch_failed", "error": str(exc)[:200]})
                for item in batch:
                    try:
                        statuses, created = await self._flush([item])
                    except Exception as single:
                        if not item[1].done():
                            item[1].set_exception(single)
                        continue
                    self._settle([item], statuses, created)
                continue
            self._settle(batch, statuses, created)

    def _settle(self, batch: list[_Item], statuses: dict[str, str], created: set[str]) -> None:
        for writes, future in batch:
            if not future.done():
                ident = _execution_of(writes[0][1])
                future.set_result(Written(statuses.get(ident), ident in created))

    async def _flush(self, batch: list[_Item]) -> tuple[dict[str, str], set[str]]:
        groups, changing, steps_only = plan_batch([writes for writes, _future in batch])
        statuses: dict[str, str] = {}
        created: set[str] = set()
        async with self.pool.connection() as conn, conn.transaction():
            returning = []
            async with conn.pipeline():  # every statement sent at once, one round trip
                for name, rows in groups.items():
                    if rows:
                        cur = conn.cursor()
                        await cur.execute(query("runtime", name), {"rows": rows_json(rows)})
                        if name != "record_step":
                            returning.append((name, cur))
                reading = None
                if steps_only:
                    reading = conn.cursor()
                    await reading.execute(query("executions", "statuses"),
                                          {"ids": array_literal(steps_only)})
            for name, cur in returning:
                for ident, status in await cur.fetchall():
                    statuses[str(ident)] = str(status)
                    if name in ("create_execution", "run_execution"):
                        created.add(str(ident))
            if reading is not None:
                statuses.update((str(i), str(s)) for i, s in await reading.fetchall())
            missing = changing - statuses.keys()  # not created, started or finished by this batch
            if missing:
                cur = await conn.execute(query("executions", "statuses"),
                                         {"ids": array_literal(missing)})
                statuses.update((str(i), str(s)) for i, s in await cur.fetchall())
        self.batches += 1
        self.writes += sum(len(w) for w, _ in batch)
        return statuses, created


class StateReader:
    """Loads of many executions at once: the loads the running executions ask for meanwhile are read
    with one query (``WHERE id = ANY(...)``) instead of one round trip and one pooled connection each."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[tuple[Any, ...] | None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def load(self, execution_id: str) -> tuple[Any, ...] | None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="automate-state-reader")
        future: asyncio.Future[tuple[Any, ...] | None] = asyncio.get_running_loop().create_future()
        await self._queue.put((execution_id, future))
        return await future

    async def workflow_version(self, automation_id: str, version: int) -> tuple[Any, ...] | None:
        """(workflow id, definition, automation slug, tenant) of one version of an automation (they
        never change once applied)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(query("runtime", "workflow_version"),
                                     {"automation_id": automation_id, "version": version})
            row = await cur.fetchone()
        return None if row is None else tuple(row)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            batch = await take_batch(self._queue)
            try:
                rows = await self._read({i for i, _ in batch})
            except Exception as exc:
                if database_away(exc) or len(batch) == 1:
                    self._settle(batch, exc)
                    continue
                # One bad load must not fail its neighbours (another tenant's executions among them):
                # read them one at a time, each failing alone.
                log.warning("batch load failed, retrying one by one",
                            extra={"action": "state.load_failed", "error": str(exc)[:200]})
                for item in batch:
                    try:
                        self._settle([item], await self._read({item[0]}))
                    except Exception as single:
                        self._settle([item], single)
                continue
            self._settle(batch, rows)

    async def _read(self, ids: set[str]) -> dict[str, tuple[Any, ...]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query("runtime", "load_execution"), {"ids": array_literal(ids)})
            return {str(r[0]): tuple(r) for r in await cur.fetchall()}

    @staticmethod
    def _settle(batch: list[tuple[str, asyncio.Future[tuple[Any, ...] | None]]],
                result: dict[str, tuple[Any, ...]] | Exception) -> None:
        for ident, future in batch:
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result.get(ident))


class BatchPlan(NamedTuple):
    """What one batch runs: the rows of each kind of write (in :data:`WRITES` order), the executions
    whose status a write sets (their statuses come back RETURNING), and those with step results alone
    (their statuses are read)."""

    groups: dict[str, list[dict[str, Any]]]
    changing: set[str]
    steps_only: set[str]


def plan_batch(items: list[list[Write]]) -> BatchPlan:
    """Group the writes of a batch (each item: the writes of one execution) by kind."""
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in WRITES}
    changing: set[str] = set()
    steps_only: set[str] = set()
    for writes in items:
        for name, params in writes:
            groups[name].append(params)
        ident = _execution_of(writes[0][1])
        (steps_only if all(name == "record_step" for name, _ in writes) else changing).add(ident)
    return BatchPlan(groups, changing, steps_only)


def database_away(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is away (down, restarting, failing over, unreachable): a
    connection error (SQLSTATE class 08, none at all, ``57P``: admin or crash shutdown, cannot connect
    now, or ``53300``: too many connections, as when every client reconnects at once) or a broken
    connection. Trying again later may pass. Other operational errors (a canceled query,
    a program limit, a lock not available, a full disk) are the statement's own: trying again fails again."""
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith(("08", "57P")) or state == "53300"  # too many connections


def rows_json(rows: list[dict[str, Any]]) -> str:
    try:
        return orjson.dumps(rows).decode()
    except orjson.JSONEncodeError:  # what only the json module writes, e.g. integers beyond 64 bits
        return json.dumps(rows)


async def take_batch(queue: asyncio.Queue[T]) -> list[T]:
    """Wait for one item, then take what else is queued (up to the batch size) without waiting."""
    batch = [await queue.get()]
    while not queue.empty() and len(batch) < MAX_BATCH:
        batch.append(queue.get_nowait())
    return batch
