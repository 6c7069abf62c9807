"""Failing executions the runtime cannot advance: the deadline sweeper's and the runtime worker's last
resort (``queries/failures.sql``). Each query fails only a PENDING or RUNNING execution, so an execution
that ended meanwhile keeps its end."""

from __future__ import annotations

from typing import Any, NamedTuple

from psycopg.types.json import Jsonb

from automate.db.store import AsyncStore

__all__ = ["FailureStore", "Swept"]


class Swept(NamedTuple):
    """An execution the sweeper failed."""

    id: str
    tenant: str
    workflow_slug: str


class FailureStore(AsyncStore):
    """Runs on the caller's async connection or cursor; commits nothing."""

    group = "failures"

    async def sweep_past_deadline(self, error: dict[str, Any], limit: int) -> list[Swept]:
        """Fail up to ``limit`` executions still PENDING or RUNNING past their deadline with ``error``,
        skipping rows locked by others (another sweeper, an engine writing them)."""
        cur = await self._execute("sweep_past_deadline", {"error": Jsonb(error), "limit": limit})
        return [Swept(str(r[0]), str(r[1]), str(r[2])) for r in await cur.fetchall()]

    async def fail(self, execution_id: str, tenant: str, error: dict[str, Any]) -> bool:
        """Fail one execution of ``tenant`` that is PENDING or RUNNING; False when there is none."""
        row = await self._one("fail_execution", {"id": execution_id, "tenant": tenant, "error": Jsonb(error)})
        return row is not None

    async def create_failed(self, *, execution_id: str, tenant: str, automation_id: str, version: int,
                            event_id: str | None, context: Any, error: dict[str, Any]) -> bool:
        """Create an execution FAILED (nothing was written for it before the error); False when it exists
        already, or the version is not one of an automation of ``tenant``."""
        row = await self._one("create_failed_execution", {
            "id": execution_id, "tenant": tenant, "automation_id": automation_id, "version": version,
            "event_id": event_id, "context": Jsonb(context), "error": Jsonb(error)})
        return row is not None
