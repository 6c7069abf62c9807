"""``Runtime().run_execution(id)``: one execution to completion in this process."""

from __future__ import annotations

import asyncio

from psycopg_pool import AsyncConnectionPool

from automate.config import Settings, get_settings
from automate.runtime.engine import Engine, Outcome

__all__ = ["Runtime"]


class Runtime:
    """The core execution engine, in process: runs a workflow's steps, retrying transient failures with
    exponential backoff and jitter, and moves the execution RUNNING → SUCCESS/FAILED.

    The Kafka workers (`automate runtime`) use the same engine with retries through delay topics.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def run_execution(self, execution_id: str) -> None:
        """Execute a workflow by execution id.

        Raises:
            Execution.DoesNotExist: no such execution.
        """
        outcome = asyncio.run(self.arun_execution(str(execution_id)))
        if outcome is Outcome.MISSING:
            from automate.models import Execution

            raise Execution.DoesNotExist(f"execution {execution_id} does not exist")

    async def arun_execution(self, execution_id: str) -> Outcome:
        """Async twin of :meth:`run_execution`; returns where the execution stands."""
        pool = AsyncConnectionPool(self.settings.dsn, min_size=1, max_size=8, open=False,
                                   kwargs={"application_name": "automate-runtime-inline",
                                           "prepare_threshold": None})  # (see worker.py)
        await pool.open()
        engine = Engine(self.settings, pool, mode="inline")
        try:
            return await engine.advance(execution_id)
        finally:
            await engine.writer.close()
            await engine.reader.close()
            await pool.close()
