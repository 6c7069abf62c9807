"""Executions and their step runs as operators and tools see them (the runtime's own writes are
``automate.runtime.state``)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, NamedTuple

from psycopg.types.json import Jsonb

from automate.db.queries import array_literal
from automate.db.store import Store
from automate.errors import ErrorCodes, ExecutionError

__all__ = ["FOREVER_S", "ExecutionRow", "ExecutionStore", "ExecutionTiming", "FailedStep", "StepRunRow",
           "canonical_execution_id"]

FOREVER_S = 86400.0 * 365  # the deadline of an execution without a timeout


class ExecutionRow(NamedTuple):
    id: str
    status: str
    context: Any
    error: Any
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    tenant: str | None = None


class StepRunRow(NamedTuple):
    step_id: str
    attempt: int
    status: str
    error_code: str | None
    error_message: str | None
    output: Any


class FailedStep(NamedTuple):
    """Where a failed execution failed: what a replay resumes."""

    tenant: str
    workflow_slug: str
    step_id: str
    attempt: int


class ExecutionTiming(NamedTuple):
    """An execution's status, the event that started it, its first step's start and its end (epoch s)."""

    id: str
    status: str | None
    event_id: str | None
    first_step_at: float | None
    finished_at: float | None


def canonical_execution_id(text: str) -> str:
    """``text`` as the canonical form of an execution id.

    Raises:
        ExecutionError: ``text`` is not a UUID.
    """
    try:
        return str(uuid.UUID(str(text)))
    except ValueError:
        raise ExecutionError(f"{text!r} is not an execution id (a UUID)") from None


class ExecutionStore(Store):
    """Named queries of executions for the CLI, replays, the demo and the benchmark.

    The operator's queries (:meth:`newest`, :meth:`get`, :meth:`cancel`) take the ``tenant`` they are
    scoped to; None reaches every tenant's executions.
    """

    group = "executions"

    def newest(self, status: str | None, limit: int, tenant: str | None = None
               ) -> list[tuple[str, str, str, datetime, datetime | None, str]]:
        """(id, workflow slug, status, created, finished, tenant) of the newest executions (of ``tenant``)."""
        return [(str(r[0]), str(r[1]), str(r[2]), r[3], r[4], str(r[5]))
                for r in self._all("list_executions", {"status": status, "limit": limit, "tenant": tenant})]

    def get(self, ident: str, tenant: str | None = None) -> ExecutionRow | None:
        """The execution ``ident``; None when there is none (of ``tenant``)."""
        row = self._one("get_execution", {"id": canonical_execution_id(ident), "tenant": tenant})
        return None if row is None else ExecutionRow(*row)

    def step_runs(self, ident: str) -> list[StepRunRow]:
        """Every attempt of every step, in the order they started."""
        return [StepRunRow(*r) for r in self._all("step_runs", {"id": canonical_execution_id(ident)})]

    def cancel(self, ident: str, tenant: str | None = None) -> bool:
        """Cancel a pending or running execution (of ``tenant``; no further step starts); False when it
        is neither (or another tenant's)."""
        error = {"code": ErrorCodes.EXECUTION_CANCELED, "message": "canceled"}
        params = {"id": canonical_execution_id(ident), "error": Jsonb(error), "tenant": tenant}
        return self._count("cancel_execution", params) == 1

    def failed_step(self, ident: str) -> FailedStep | None:
        """The last failed step of a failed execution; None when the execution did not fail."""
        row = self._one("failed_step", {"id": canonical_execution_id(ident)})
        return None if row is None else FailedStep(str(row[0]), str(row[1]), str(row[2]), int(row[3]))

    def reopen(self, ident: str) -> bool:
        """Make a failed execution RUNNING again (with no deadline); False when it is not failed."""
        params = {"id": canonical_execution_id(ident), "timeout": FOREVER_S}
        return self._count("reopen_execution", params) == 1

    def refail(self, ident: str, error: Any, step_id: str, attempt: int) -> bool:
        """Make a reopened execution FAILED again with ``error`` (its replay's step task was not sent);
        False when ``step_id``'s attempt after ``attempt`` has started meanwhile, or it is not RUNNING."""
        params = {"id": canonical_execution_id(ident), "error": Jsonb(error), "step_id": step_id,
                  "attempt": attempt}
        return self._count("refail_execution", params) == 1

    def statuses(self, ids: Collection[str]) -> dict[str, str]:
        """The status of each of ``ids`` that exists."""
        return {str(i): str(s) for i, s in self._all("statuses", {"ids": array_literal(ids)})}

    def retried_attempts(self, ids: Collection[str]) -> list[tuple[str, str, int]]:
        """(execution id, step id, attempts after the first) of the retried steps of ``ids``."""
        return [(str(e), str(s), int(n)) for e, s, n in self._all("retried_attempts",
                                                                    {"ids": array_literal(ids)})]

    def of_events(self, event_ids: Collection[str], automation_ids: Collection[str]) -> list[str]:
        """The executions of ``automation_ids`` that ``event_ids`` started."""
        return [str(r[0]) for r in self._all("of_events", {"events": array_literal(event_ids),
                                                           "automations": array_literal(automation_ids)})]

    def timings(self, ids: Collection[str]) -> list[ExecutionTiming]:
        return [ExecutionTiming(*r) for r in self._all("timings", {"ids": array_literal(ids)})]

    def event_timings(self) -> list[ExecutionTiming]:
        """:meth:`timings` of every execution an event started."""
        return [ExecutionTiming(*r) for r in self._all("event_timings")]

    def finished_since(self, since: float) -> int:
        """How many executions that events started, created at or after ``since`` (epoch s), have ended."""
        row = self._one("finished_since", {"since": since})
        return int(row[0]) if row else 0

    def status_of_event(self, event_id: str) -> str | None:
        """The status of the execution ``event_id`` started (the first, should there be several)."""
        row = self._one("status_of_event", {"event_id": event_id})
        return None if row is None else str(row[0])
