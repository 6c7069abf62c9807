"""run_workflow: an execution row and its request in the outbox, in one transaction."""

from __future__ import annotations

import time
import uuid
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from automate.contracts import canonical_json, check_json
from automate.db.workflows import AsyncWorkflowStore, WorkflowStore
from automate.errors import UnknownWorkflow
from automate.events.emitter import MAX_TENANT_BYTES, Emitter, check_text_argument
from automate.models.base import atomic
from automate.topics import workflow_topic
from automate_core.outbox.writer import OutboxRow

__all__ = ["EXECUTION_REQUESTED", "WorkflowStarter"]

EXECUTION_REQUESTED = "automate.execution.requested"


def _aatomic(conn: psycopg.AsyncConnection[Any]) -> AbstractAsyncContextManager[Any]:
    """Async twin of automate.models.base.atomic: a savepoint inside the caller's transaction, never a
    COMMIT behind its back."""
    if conn.autocommit or conn.info.transaction_status == TransactionStatus.INTRANS:
        return conn.transaction()
    return nullcontext()


class WorkflowStarter:
    """Starts executions of live workflow versions, bypassing the rules."""

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.contract = emitter.contracts.builtin("ExecutionRequest")

    def _row(self, schema_id: int, found: tuple[str, str, int], slug: str, payload: dict[str, Any],
             tenant: str) -> tuple[OutboxRow, dict[str, Any]]:
        automation_id, workflow_id, version = found
        execution_id = str(uuid.uuid4())
        request = {
            "execution_id": execution_id,
            "tenant": tenant,
            "automation_id": automation_id,
            "workflow_slug": slug,
            "workflow_version": version,
            "event_id": None,
            "event_type": None,
            "context": canonical_json(payload),
            "requested_at": int(time.time() * 1000),
        }
        row = self.emitter.build(
            EXECUTION_REQUESTED, request, schema_id, self.contract, True,
            dedupe_key=None, tenant=tenant, key=execution_id,
            topic=workflow_topic(self.emitter.settings, slug),
        )
        execution = {
            "id": execution_id, "tenant": tenant, "automation_id": automation_id,
            "workflow_id": workflow_id, "context": payload,
        }
        return row, execution

    def _check(self, slug: str, payload: Any, tenant: str | None) -> None:
        if not isinstance(slug, str) or not slug:
            raise UnknownWorkflow(f"workflow slug must be a non-empty string, not {slug!r}")
        if not isinstance(payload, dict):
            raise UnknownWorkflow(f"payload must be a JSON object (dict), not {type(payload).__name__}")
        check_json(payload, text=True)
        if tenant is not None:
            check_text_argument("tenant", tenant, MAX_TENANT_BYTES)

    def _missing(self, slug: str, tenant: str) -> UnknownWorkflow:
        return UnknownWorkflow(
            f"no enabled workflow {slug!r} with a live version for tenant {tenant!r}: "
            "apply it with `automate workflows apply -f FILE`"
        )

    def start(self, conn: psycopg.Connection[Any], slug: str, payload: dict[str, Any], *,
              tenant: str | None) -> str:
        self._check(slug, payload, tenant)
        tenant = tenant or self.emitter.settings.tenant
        with atomic(conn), conn.cursor() as cur:
            store = WorkflowStore(cur)
            found = store.live_workflow(tenant, slug)
            if found is None:
                raise self._missing(slug, tenant)
            sid = self.emitter.schema_id(cur, self.contract)
            row, execution = self._row(sid, found, slug, payload, tenant)
            store.insert_requested_execution(execution)
            self.emitter.write(cur, row)
            return str(execution["id"])

    async def astart(self, conn: psycopg.AsyncConnection[Any], slug: str, payload: dict[str, Any], *,
                     tenant: str | None) -> str:
        self._check(slug, payload, tenant)
        tenant = tenant or self.emitter.settings.tenant
        async with _aatomic(conn), conn.cursor() as cur:
            store = AsyncWorkflowStore(cur)
            found = await store.live_workflow(tenant, slug)
            if found is None:
                raise self._missing(slug, tenant)
            sid = await self.emitter.aschema_id(cur, self.contract)
            row, execution = self._row(sid, found, slug, payload, tenant)
            await store.insert_requested_execution(execution)
            await self.emitter.awrite(cur, row)
            return str(execution["id"])
