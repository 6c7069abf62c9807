"""The rows of Automate's state database: automations, workflow versions, executions and step runs.

The columns are those of ``automate/db/schema.sql``; ids are uuid text, JSON columns are Python objects.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import psycopg

from automate import errors
from automate.config import Settings, get_settings
from automate.db.queries import query
from automate.errors import UsageError
from automate.models.base import Manager, Model, Table, atomic

__all__ = ["Automation", "Execution", "StepRun", "Workflow"]


@dataclass(slots=True, kw_only=True)
class Automation(Model):
    """Something to automate: a slug per tenant, whose workflow versions live in :class:`Workflow`."""

    table: ClassVar[Table] = Table(
        name="automation",
        columns={"id": "uuid", "tenant": "text", "slug": "text", "name": "text", "enabled": "boolean",
                 "live_version": "integer", "created_at": "timestamptz", "updated_at": "timestamptz"},
        required=frozenset({"id", "tenant", "slug", "name"}),
    )
    objects: ClassVar[AutomationManager]

    class DoesNotExist(errors.DoesNotExist):
        """No automation matched."""

    class MultipleObjectsReturned(errors.MultipleObjectsReturned):
        """More than one automation matched."""

    tenant: str
    slug: str
    name: str
    enabled: bool
    live_version: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True, kw_only=True)
class Workflow(Model):
    """One immutable, validated version of an automation's workflow graph."""

    table: ClassVar[Table] = Table(
        name="workflow",
        columns={"id": "uuid", "automation_id": "uuid", "version": "integer", "definition": "jsonb",
                 "digest": "text", "created_at": "timestamptz"},
        required=frozenset({"id", "automation_id", "version", "definition", "digest"}),
        aliases={"automation": "automation_id"},
    )
    objects: ClassVar[Manager[Workflow]]

    class DoesNotExist(errors.DoesNotExist):
        """No workflow version matched."""

    class MultipleObjectsReturned(errors.MultipleObjectsReturned):
        """More than one workflow version matched."""

    automation_id: str
    version: int
    definition: Any
    digest: str
    created_at: datetime

    @property
    def automation(self) -> Automation:
        """The automation this is a version of (loaded on each access)."""
        return Automation.objects.get(id=self.automation_id, settings=self._settings)


@dataclass(slots=True, kw_only=True)
class Execution(Model):
    """One run of an automation, pinned to the workflow version live when it was created.

    ``status`` is one of PENDING, RUNNING, SUCCESS, FAILED, CANCELED.
    """

    table: ClassVar[Table] = Table(
        name="execution",
        columns={"id": "uuid", "tenant": "text", "automation_id": "uuid", "workflow_id": "uuid",
                 "event_id": "uuid", "status": "text", "context": "jsonb", "attempt": "integer",
                 "error": "jsonb", "created_at": "timestamptz", "started_at": "timestamptz",
                 "finished_at": "timestamptz", "deadline_at": "timestamptz"},
        required=frozenset({"id", "tenant", "automation_id"}),
        aliases={"automation": "automation_id", "workflow": "workflow_id"},
    )
    objects: ClassVar[ExecutionManager]

    class DoesNotExist(errors.DoesNotExist):
        """No execution matched."""

    class MultipleObjectsReturned(errors.MultipleObjectsReturned):
        """More than one execution matched."""

    tenant: str
    automation_id: str
    workflow_id: str | None
    event_id: str | None
    status: str
    context: Any
    attempt: int
    error: Any
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None

    @property
    def automation(self) -> Automation:
        """The automation this executes (loaded on each access)."""
        return Automation.objects.get(id=self.automation_id, settings=self._settings)

    @property
    def workflow(self) -> Workflow | None:
        """The pinned workflow version (loaded on each access); None if none was pinned."""
        if self.workflow_id is None:
            return None
        return Workflow.objects.get(id=self.workflow_id, settings=self._settings)


@dataclass(slots=True, kw_only=True)
class StepRun(Model):
    """One attempt of one step of an execution.

    ``status`` is one of RUNNING, SUCCESS, FAILED, RETRYING, SKIPPED, CANCELED.
    """

    table: ClassVar[Table] = Table(
        name="step_run",
        columns={"id": "uuid", "execution_id": "uuid", "step_id": "text", "attempt": "integer",
                 "status": "text", "idempotency_key": "text", "input": "jsonb", "output": "jsonb",
                 "error_code": "text", "error_message": "text", "started_at": "timestamptz",
                 "finished_at": "timestamptz"},
        required=frozenset({"id", "execution_id", "step_id", "attempt", "status", "idempotency_key"}),
        aliases={"execution": "execution_id"},
    )
    objects: ClassVar[StepRunManager]

    class DoesNotExist(errors.DoesNotExist):
        """No step run matched."""

    class MultipleObjectsReturned(errors.MultipleObjectsReturned):
        """More than one step run matched."""

    execution_id: str
    step_id: str
    attempt: int
    status: str
    idempotency_key: str
    input: Any
    output: Any
    error_code: str | None
    error_message: str | None
    started_at: datetime
    finished_at: datetime | None

    @property
    def execution(self) -> Execution:
        """The execution this step belongs to (loaded on each access)."""
        return Execution.objects.get(id=self.execution_id, settings=self._settings)


class AutomationManager(Manager[Automation]):
    """``Automation.objects``: ``tenant`` defaults to the settings' tenant."""

    def prepare(self, values: dict[str, Any], settings: Settings | None) -> dict[str, Any]:
        if values.get("tenant") is None:
            values["tenant"] = (settings or get_settings()).tenant
        return super().prepare(values, settings)


class ExecutionManager(Manager[Execution]):
    """``Execution.objects``: a new execution takes its tenant and pinned workflow from the automation."""

    def create(self, *, using: psycopg.Connection[Any] | None = None, settings: Settings | None = None,
               **fields: Any) -> Execution:
        """Create a PENDING execution of ``automation`` (an Automation or its id) with ``context``.

        ``tenant`` is the automation's and ``workflow_id`` its live version's, unless given.

        Raises:
            Automation.DoesNotExist: there is no such automation.
            NoLiveVersion: the automation has no live workflow version.
            TypeError: no automation given, or an unknown field.
        """
        values = self.prepare(self._columns(fields, "create"), settings)
        automation_id = values.get("automation_id")
        if automation_id is None:
            raise UsageError("Execution.objects.create() needs automation= (an Automation or its id)")
        key = automation_id.id if isinstance(automation_id, Model) else str(automation_id)
        values["automation_id"] = key
        with self.connection(using, settings) as conn, atomic(conn):
            target = _execution_target(conn, key)
            if target is None:
                raise Automation.DoesNotExist(f"Automation matching id={key!r} does not exist")
            tenant, slug, live_version, workflow_id = target
            if values.get("tenant") is None:
                values["tenant"] = tenant
            if values.get("workflow_id") is None:
                if workflow_id is None:
                    state = ("has no live version" if live_version is None
                             else f"has live version {live_version} but no such workflow version")
                    raise errors.NoLiveVersion(
                        f"automation {slug!r} ({key}) {state}: apply a workflow to it with "
                        "`automate workflows apply -f FILE` before creating executions"
                    )
                values["workflow_id"] = workflow_id
            return self.insert(conn, values, settings)

    def prepare(self, values: dict[str, Any], settings: Settings | None) -> dict[str, Any]:
        if values.get("context") is None:
            values["context"] = {}
        values.setdefault("status", "PENDING")
        return super().prepare(values, settings)


class StepRunManager(Manager[StepRun]):
    """``StepRun.objects``: ``idempotency_key`` defaults to ``<execution id>:<step id>``."""

    def prepare(self, values: dict[str, Any], settings: Settings | None) -> dict[str, Any]:
        execution = values.get("execution_id")
        if isinstance(execution, Model):
            values["execution_id"] = execution = execution.id
        if values.get("idempotency_key") is None and execution is not None and "step_id" in values:
            values["idempotency_key"] = f"{execution}:{values['step_id']}"
        return super().prepare(values, settings)


def _execution_target(conn: psycopg.Connection[Any], automation_id: str) -> tuple[Any, ...] | None:
    """(tenant, slug, live_version, live workflow id or None) of an automation; None if there is none."""
    try:
        uuid.UUID(automation_id)
    except ValueError:
        return None
    return conn.execute(query("models", "execution_target"), {"automation_id": automation_id}).fetchone()


Automation.objects = AutomationManager(Automation)
Workflow.objects = Manager(Workflow)
Execution.objects = ExecutionManager(Execution)
StepRun.objects = StepRunManager(StepRun)
