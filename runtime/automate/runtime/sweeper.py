"""The deadline sweeper: fails the executions still PENDING or RUNNING past their deadline (their
workflow's ``timeout``; a year without one), with ``execution.timeout`` and a dead letter each.

An engine advancing an execution fails it itself when it finds it past its deadline; the sweeper finds
those nothing advances any more: parked on a long ``core.wait`` or retry, or whose next task was lost.
Every runtime worker sweeps every ``sweep_interval_s``; the rows are claimed with ``FOR UPDATE SKIP
LOCKED`` (:class:`automate.db.failures.FailureStore`), so workers sweeping at once fail each execution
once. The dead letters are written before the sweep commits: a worker killed in between leaves the rows
to the next sweep (a letter may then be written twice, never lost). A step task arriving later for a
swept execution finds it FAILED and runs nothing.

While its letters are sent, a sweep holds its rows locked, and an engine writing one of them waits: so a
sweep takes ``batch`` rows at most (100), and gives its letters ``letters_timeout_s`` (10 s) to be
acknowledged. Kafka slower than that (away, a leader moving), the sweep is rolled back, its rows unlocked
and left to the next sweep, the letters it may have written then written again (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from psycopg_pool import AsyncConnectionPool

from automate.db.failures import FailureStore, Swept
from automate.dead_letters import DeadLetter
from automate.errors import ErrorCodes
from automate.runtime.engine import DeadLetterSink

__all__ = ["DeadlineSweeper"]

log = logging.getLogger("automate.runtime.sweeper")

TIMED_OUT = {"code": ErrorCodes.EXECUTION_TIMEOUT.value, "message": "the execution ran past its timeout"}


class DeadlineSweeper:
    """Fails executions past their deadline, ``batch`` at a time, each batch's letters acknowledged within
    ``letters_timeout_s`` or the batch rolled back."""

    def __init__(self, pool: AsyncConnectionPool, dead_letters: DeadLetterSink | None, *,
                 batch: int = 100, letters_timeout_s: float = 10.0) -> None:
        self.pool = pool
        self.dead_letters = dead_letters
        self.batch = batch
        self.letters_timeout_s = letters_timeout_s
        self.swept = 0
        self.rolled_back = 0  # batches whose letters were not acknowledged in time

    async def sweep(self) -> list[Swept]:
        """Fail every execution past its deadline now; returns them. A batch whose letters are not
        acknowledged in time is rolled back, and the sweep ends there (the next one takes it again)."""
        found: list[Swept] = []
        while True:
            try:
                async with self.pool.connection() as conn, conn.transaction():
                    swept = await FailureStore(conn).sweep_past_deadline(TIMED_OUT, self.batch)
                    if self.dead_letters is not None and swept:
                        sink = self.dead_letters
                        await asyncio.wait_for(asyncio.gather(*(sink(_letter(s)) for s in swept)),
                                               self.letters_timeout_s)
            except TimeoutError:  # raised through the transaction: rolled back, the rows unlocked
                self.rolled_back += 1
                log.warning("sweep rolled back: dead letters not acknowledged in time", extra={
                    "action": "runtime.sweep_rolled_back", "timeout_s": self.letters_timeout_s})
                return found
            found += swept
            self.swept += len(swept)
            if swept:
                log.info("executions failed past their deadline", extra={
                    "action": "runtime.swept", "count": len(swept)})
            if len(swept) < self.batch:
                return found

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Sweep every ``interval`` seconds until ``stop`` is set; a failed sweep is logged and tried again
        at the next."""
        while not stop.is_set():
            try:
                await self.sweep()
            except (psycopg.Error, OSError) as exc:  # the database away: the next sweep will do
                log.warning("sweep failed", extra={"action": "runtime.sweep_failed", "error": str(exc)[:300]})
            except Exception:  # never let the sweeper's failure stop the worker
                log.exception("sweep failed", extra={"action": "runtime.sweep_failed"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def _letter(swept: Swept) -> DeadLetter:
    return DeadLetter(kind="step", execution_id=swept.id, tenant=swept.tenant,
                      workflow_slug=swept.workflow_slug, error_code=TIMED_OUT["code"],
                      error_message=TIMED_OUT["message"])
