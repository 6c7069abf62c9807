"""Group commit for the runtime's state writes.

Postgres commits a few thousand single-row transactions per second on this kind of machine but writes
tens of thousands of rows per second in batches, so the step results of all the executions a worker runs
at once are queued and written together: one transaction, one pipeline, one commit per batch. Each write
returns the execution's status as of that commit, which is how a running execution learns it was
canceled without a query of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool

from automate.db.queries import query

__all__ = ["StateReader", "StateWriter"]

T = TypeVar("T")

log = logging.getLogger("automate.runtime.state")

_MAX_BATCH = 500


class StateWriter:
    """Queue of writes flushed in batches by one background task."""

    def __init__(self, pool: AsyncConnectionPool, *, flushers: int = 3) -> None:
        self.pool = pool
        self.flushers = flushers  # batches in flight at once: one commits while the next one fills
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], asyncio.Future[str | None]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.batches = 0
        self.writes = 0

    def _ensure(self) -> None:
        if not self._tasks or any(t.done() for t in self._tasks):
            self._tasks = [t for t in self._tasks if not t.done()]
            while len(self._tasks) < self.flushers:
                self._tasks.append(asyncio.create_task(self._run(), name="automate-state-writer"))

    async def write(self, name: str, params: dict[str, Any]) -> str | None:
        """Run query ``runtime.<name>`` in the next batch; returns the execution's status after it."""
        self._ensure()
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        await self._queue.put((name, params, future))
        return await future

    async def close(self) -> None:
        """Flush what is queued, then stop the background tasks."""
        while self._tasks and not all(t.done() for t in self._tasks) and not self._queue.empty():
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            batch = await _take_batch(self._queue)
            try:
                statuses = await self._flush(batch)
            except Exception as exc:
                # One bad write must not fail its neighbours: write them one by one.
                log.warning("batch write failed, retrying one by one",
                            extra={"action": "state.batch_failed", "error": str(exc)[:200]})
                for item in batch:
                    try:
                        statuses = await self._flush([item])
                    except Exception as single:
                        if not item[2].done():
                            item[2].set_exception(single)
                        continue
                    self._settle([item], statuses)
                continue
            self._settle(batch, statuses)

    def _settle(self, batch: list[tuple[str, dict[str, Any], asyncio.Future[str | None]]],
                statuses: dict[str, str]) -> None:
        for _name, params, future in batch:
            if not future.done():
                future.set_result(statuses.get(str(params.get("execution_id") or params.get("id"))))

    async def _flush(self, batch: list[tuple[str, dict[str, Any], asyncio.Future[str | None]]]
                     ) -> dict[str, str]:
        ids = list({str(p.get("execution_id") or p.get("id")) for _, p, _ in batch})
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            async with conn.pipeline():  # every statement sent at once, one round trip
                for name, params, _ in batch:
                    await cur.execute(query("runtime", name), params)
                await cur.execute("SELECT id::text, status FROM execution WHERE id = ANY(%s::uuid[])", (ids,))
            rows = await cur.fetchall()
        self.batches += 1
        self.writes += len(batch)
        return {str(i): str(s) for i, s in rows}


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

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            batch = await _take_batch(self._queue)
            try:
                async with self.pool.connection() as conn:
                    cur = await conn.execute(query("runtime", "load_execution"),
                                             {"ids": list({i for i, _ in batch})})
                    rows = {str(r[0]): tuple(r) for r in await cur.fetchall()}
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for ident, future in batch:
                if not future.done():
                    future.set_result(rows.get(ident))


async def _take_batch(queue: asyncio.Queue[T]) -> list[T]:
    """Wait for one item, then take what else is queued (up to the batch size) without waiting."""
    batch = [await queue.get()]
    while not queue.empty() and len(batch) < _MAX_BATCH:
        batch.append(queue.get_nowait())
    return batch
