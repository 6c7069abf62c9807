"""Replaying a dead letter: reopen the failed execution and resume it at its failed step."""

from __future__ import annotations

import time

import psycopg

from automate.config import Settings
from automate.db.queries import query
from automate.runtime.engine import Deferred
from automate.runtime.kafka_io import AsyncProducer, Records, send_step_task

__all__ = ["replay"]


async def replay(settings: Settings, execution_id: str) -> str:
    """Returns the step the execution resumes at. LookupError when it is not a failed execution."""
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute(
            "SELECT e.tenant, a.slug, s.step_id, s.attempt FROM execution e "
            "JOIN automation a ON a.id = e.automation_id "
            "JOIN step_run s ON s.execution_id = e.id AND s.status = 'FAILED' "
            "WHERE e.id::text = %s AND e.status = 'FAILED' ORDER BY s.finished_at DESC LIMIT 1",
            (execution_id,),
        ).fetchone()
        if row is None:
            raise LookupError(f"execution {execution_id} is not a failed execution with a failed step")
        tenant, slug, step_id, attempt = row
        conn.execute(query("runtime", "reopen_execution"), {"id": execution_id, "timeout": 86400.0 * 365})
    producer = AsyncProducer(settings)
    try:
        await send_step_task(settings, Records(settings), producer, Deferred(
            execution_id, str(tenant), str(slug), str(step_id), int(attempt) + 1, time.time(), "replay"))
    finally:
        producer.close()
    return str(step_id)
