"""Storing workflows: immutable versions, one live version per automation, its triggers and its topic.

Applying a definition is idempotent: the same definition (by digest) changes nothing; a different one
becomes a new version, made live in the same transaction that replaces the automation's triggers and
notifies the processors (``NOTIFY automate_config``). Old versions are never updated, so an execution
keeps running the version it was created with (``execution.workflow_id``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import psycopg

from automate.config import Settings
from automate.db.workflows import WorkflowStore
from automate.errors import ErrorCodes, TransportError, WorkflowValidationError
from automate.runtime.workflows.references import reference_faults
from automate.runtime.workflows.spec import WorkflowSpec, digest
from automate.runtime.workflows.tenants import check_slug, workflow_tenant
from automate.topics import ensure_topics, workflow_topic

__all__ = ["AppliedWorkflow", "LiveWorkflow", "WorkflowSummary", "apply", "get_workflow", "list_workflows",
           "set_enabled"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedWorkflow:
    """What :func:`apply` did: ``created`` is False when the definition was already the live version."""

    automation_id: str
    workflow_id: str
    slug: str
    tenant: str
    version: int
    created: bool
    topic: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowSummary:
    """One automation as ``automate workflows list`` shows it."""

    automation_id: str
    tenant: str
    slug: str
    name: str
    enabled: bool
    live_version: int | None
    triggers: list[str]  # event patterns
    updated_at: datetime


class LiveWorkflow(NamedTuple):
    """An automation, its live definition and that definition's version."""

    automation: WorkflowSummary
    spec: WorkflowSpec
    version: int


def apply(conn: psycopg.Connection[Any], spec: WorkflowSpec, settings: Settings, *, tenant: str | None = None,
          tenant_from_file: bool | None = None, topic_timeout: float = 30.0) -> AppliedWorkflow:
    """Store ``spec`` (already validated) as the live version of its automation, then ensure its topic.

    The automation is ``tenant``'s (default: the settings' tenant), whatever the file says; a file naming
    another tenant is refused unless ``tenant_from_file`` (default: the settings'
    ``workflow_tenant_from_file``) trusts it (:mod:`automate.runtime.workflows.tenants`).

    Runs in one transaction, committed on return when ``conn`` was idle (inside a transaction the caller
    already opened, the caller commits). The slug and the automation row are locked, so concurrent applies
    of one slug serialize and number their versions without gaps or clashes. ``topic_timeout`` bounds the
    wait for Kafka, in seconds.

    Raises:
        TenantMismatch: The file names another tenant than the operator's; nothing is stored.
        WorkflowSlugTaken: Another tenant has an automation of this slug; nothing is stored.
        WorkflowValidationError: A step names a connection or a secret that does not exist or may not be
            used (:mod:`automate.runtime.workflows.references`); nothing is stored.
        TransportError: The topic could not be created (``code`` ``workflow.topic``). The version is stored
            and live by then; applying again once Kafka is reachable creates the topic.
        psycopg.Error: The database refused.
    """
    from_file = settings.workflow_tenant_from_file if tenant_from_file is None else tenant_from_file
    tenant = workflow_tenant(spec, tenant or settings.tenant, from_file=from_file)
    resolved = spec if spec.tenant == tenant else spec.model_copy(update={"tenant": tenant})
    fingerprint = digest(resolved)
    store = WorkflowStore(conn)
    with conn.transaction():
        faults = reference_faults(conn, resolved, tenant)
        if faults:
            raise WorkflowValidationError(faults)
        check_slug(conn, spec.slug, tenant)
        found = store.lock_automation(tenant, spec.slug)
        if found is None:
            store.insert_automation(id=str(uuid.uuid4()), tenant=tenant, slug=spec.slug, name=spec.name)
            found = store.lock_automation(tenant, spec.slug)
            assert found is not None
        automation_id, live_version = found
        current = store.workflow_digest(automation_id, live_version) if live_version is not None else None
        if current is not None and current[1] == fingerprint:
            workflow_id, version, created = current[0], int(live_version or 0), False
        else:
            version, created, workflow_id = store.next_version(automation_id), True, str(uuid.uuid4())
            store.insert_workflow(id=workflow_id, automation_id=automation_id, version=version,
                                  definition=resolved.model_dump(mode="json"), digest=fingerprint)
            store.set_live_version(automation_id, version, spec.name)
            store.replace_triggers(automation_id, [(str(uuid.uuid4()), trigger.event, trigger.rule)
                                                   for trigger in resolved.all_triggers])
            store.notify_config(spec.slug)
    topic = workflow_topic(settings, spec.slug)
    _ensure_topic(settings, topic, f"workflow {tenant}/{spec.slug} version {version}", topic_timeout)
    return AppliedWorkflow(automation_id=str(automation_id), workflow_id=workflow_id, slug=spec.slug,
                           tenant=tenant, version=version, created=created, topic=topic)


def _ensure_topic(settings: Settings, topic: str, what: str, timeout: float) -> None:
    try:
        ensure_topics(settings, [topic], timeout=timeout)
    except TransportError as exc:
        raise TransportError(
            f"{what} is stored and live, but its topic {topic} could not be created ({exc}); apply it "
            "again once Kafka is reachable",
            code=ErrorCodes.WORKFLOW_TOPIC, retryable=True,
        ) from exc


def set_enabled(conn: psycopg.Connection[Any], slug: str, tenant: str, enabled: bool) -> bool:
    """Enable or disable the automation ``slug`` of ``tenant`` (the processors stop or start requesting its
    executions within a second or two; executions already requested still run). False when there is no such
    automation."""
    store = WorkflowStore(conn)
    with conn.transaction():
        found = store.set_enabled(tenant, slug, enabled)
        if found:
            store.notify_config(slug)
    return found


def list_workflows(conn: psycopg.Connection[Any], tenant: str | None = None) -> list[WorkflowSummary]:
    """Every automation (of ``tenant``, or of all tenants), by tenant and slug."""
    return [_summary(row) for row in WorkflowStore(conn).automations(tenant)]


def get_workflow(conn: psycopg.Connection[Any], slug: str, tenant: str) -> LiveWorkflow | None:
    """The automation ``slug`` of ``tenant`` with its live definition, or None when there is none."""
    row = WorkflowStore(conn).get(tenant, slug)
    if row is None:
        return None
    summary = _summary(row)
    assert summary.live_version is not None
    return LiveWorkflow(summary, WorkflowSpec.model_validate(row[8]), summary.live_version)


def _summary(row: tuple[Any, ...]) -> WorkflowSummary:
    return WorkflowSummary(automation_id=str(row[0]), tenant=row[1], slug=row[2], name=row[3], enabled=row[4],
                           live_version=row[5], triggers=list(row[7]), updated_at=row[6])
