"""The runtime worker's last resort: a message whose handling raised an unexpected error (an engine or
action bug, a write Postgres refuses, a record it cannot send) fails its execution with a typed code and a
dead letter, instead of leaving it RUNNING for ever. An outage of the database is not such an error: the
worker retries those messages (see :mod:`automate.runtime.worker`)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from automate.db.failures import FailureStore
from automate.dead_letters import DeadLetter
from automate.errors import AutomateError, ErrorCodes
from automate.runtime.engine import DeadLetterSink
from automate.runtime.guards import read_context, storable_text
from automate.runtime.state import database_away

__all__ = ["fail_unexpected", "unexpected_error"]

log = logging.getLogger("automate.runtime.failures")


def unexpected_error(exc: BaseException) -> dict[str, Any]:
    """The execution's error for ``exc``: the code of a typed error (other than the root's
    ``internal``), else ``execution.internal``; the message names the exception's type."""
    code = getattr(exc, "code", None) if isinstance(exc, AutomateError) else None
    if not code or code == ErrorCodes.INTERNAL:
        code = ErrorCodes.EXECUTION_INTERNAL
    return {"code": str(code), "message": storable_text(f"{type(exc).__name__}: {exc}"[:2000])}


def _context(record: Mapping[str, Any]) -> dict[str, Any]:
    """A request's context, or {} when it is not a JSON object Postgres can store."""
    context, _ = read_context(str(record.get("context") or "{}"))
    return context


def _uuid(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


async def fail_unexpected(pool: AsyncConnectionPool, dead_letters: DeadLetterSink | None, name: str,
                          record: Mapping[str, Any], exc: BaseException, *, topic: str) -> bool:
    """Fail the execution ``record`` (an ExecutionRequest or a StepTask) is for, as ``exc`` stopped it,
    and write a dead letter. An execution is failed only when it is the record's tenant's and still
    PENDING or RUNNING; one that a request named but nothing had written yet is created FAILED. The dead
    letter is written in every case. Returns whether an execution was failed.

    Raises:
        psycopg.OperationalError, psycopg.InterfaceError: The database is away
            (:func:`~automate.runtime.state.database_away`: retry the message); any other error of the
            database is logged and the dead letter still written.
    """
    error = unexpected_error(exc)
    ident, tenant = str(record.get("execution_id")), str(record.get("tenant"))
    failed = False
    try:
        async with pool.connection() as conn:
            store = FailureStore(conn)
            if name == "ExecutionRequest":
                failed = await store.create_failed(
                    execution_id=ident, tenant=tenant, automation_id=str(record.get("automation_id")),
                    version=int(record.get("workflow_version") or 0), event_id=_uuid(record.get("event_id")),
                    context=_context(record), error=error)
            failed = failed or await store.fail(ident, tenant, error)
    except psycopg.Error as write:  # e.g. an id that is no UUID: nothing to fail; the letter says why
        if database_away(write):
            raise
        log.warning("execution not failed", extra={"action": "runtime.fail_refused", "execution_id": ident,
                                                   "error": str(write)[:300]})
    log.error("message failed unexpectedly", exc_info=exc, extra={
        "action": "runtime.message_failed", "execution_id": ident, "tenant": tenant[:64],
        "code": error["code"], "failed": failed, "topic": topic})
    if dead_letters is not None:
        attempt = record.get("attempt")
        await dead_letters(DeadLetter(
            kind="step", execution_id=ident, tenant=tenant, workflow_slug=record.get("workflow_slug"),
            step_id=record.get("step_id"), attempt=attempt if isinstance(attempt, int) else None,
            error_code=error["code"], error_message=error["message"], source_topic=topic))
    return failed
