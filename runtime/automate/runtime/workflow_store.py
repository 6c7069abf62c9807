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
from psycopg.types.json import Jsonb

from automate.config import Settings
from automate.db.queries import query
from automate.errors import AutomateError
from automate.runtime.workflows import WorkflowSpec, digest

__all__ = ["AppliedWorkflow", "LiveWorkflow", "WorkflowSummary", "apply", "get_workflow", "list_workflows",
           "set_enabled", "workflow_topic"]


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


def workflow_topic(settings: Settings, slug: str) -> str:
    """The topic the step tasks of workflow ``slug`` travel on."""
    return settings.topic(f"workflow.{slug}")


def apply(conn: psycopg.Connection[Any], spec: WorkflowSpec, settings: Settings, *,
          topic_timeout: float = 30.0) -> AppliedWorkflow:
    """Store ``spec`` (already validated) as the live version of its automation, then ensure its topic.

    Runs in one transaction, committed on return when ``conn`` was idle (inside a transaction the caller
    already opened, the caller commits). The automation row is locked, so concurrent applies of one slug
    serialize and number their versions without gaps or clashes. ``topic_timeout`` bounds the wait for
    Kafka, in seconds.

    Raises:
        AutomateError: The topic could not be created (``code`` ``workflow.topic``). The version is stored
            and live by then; applying again once Kafka is reachable creates the topic.
        psycopg.Error: The database refused.
    """
    tenant = spec.tenant or settings.tenant
    resolved = spec if spec.tenant == tenant else spec.model_copy(update={"tenant": tenant})
    definition = resolved.model_dump(mode="json")
    fingerprint = digest(resolved)
    key = {"tenant": tenant, "slug": spec.slug}
    with conn.transaction():
        row = conn.execute(query("workflows", "lock_automation"), key).fetchone()
        if row is None:
            conn.execute(query("workflows", "insert_automation"),
                         {**key, "id": str(uuid.uuid4()), "name": spec.name})
            row = conn.execute(query("workflows", "lock_automation"), key).fetchone()
            assert row is not None
        automation_id, live_version = row
        current = None
        if live_version is not None:
            current = conn.execute(query("workflows", "workflow_digest"),
                                   {"automation_id": automation_id, "version": live_version}).fetchone()
        if current is not None and current[1] == fingerprint:
            workflow_id, version, created = str(current[0]), int(live_version), False
        else:
            next_row = conn.execute(query("workflows", "next_workflow_version"),
                                    {"automation_id": automation_id}).fetchone()
            assert next_row is not None
            version, created, workflow_id = int(next_row[0]), True, str(uuid.uuid4())
            conn.execute(query("workflows", "insert_workflow"), {
                "id": workflow_id, "automation_id": automation_id, "version": version,
                "definition": Jsonb(definition), "digest": fingerprint,
            })
            conn.execute(query("workflows", "set_live_version"),
                         {"automation_id": automation_id, "version": version, "name": spec.name})
            conn.execute(query("workflows", "delete_triggers"), {"automation_id": automation_id})
            for trigger in resolved.all_triggers:
                conn.execute(query("workflows", "insert_trigger"), {
                    "id": str(uuid.uuid4()), "automation_id": automation_id, "event_pattern": trigger.event,
                    "rule": Jsonb(trigger.rule) if trigger.rule is not None else None,
                })
            conn.execute(query("workflows", "notify_config"), {"slug": spec.slug})
    topic = workflow_topic(settings, spec.slug)
    _ensure_topic(settings, topic, f"workflow {tenant}/{spec.slug} version {version}", topic_timeout)
    return AppliedWorkflow(automation_id=str(automation_id), workflow_id=workflow_id, slug=spec.slug,
                           tenant=tenant, version=version, created=created, topic=topic)


def _ensure_topic(settings: Settings, topic: str, what: str, timeout: float) -> None:
    from automate.topics import ensure_topics

    try:
        ensure_topics(settings, [topic], timeout=timeout)
    except AutomateError as exc:
        raise AutomateError(
            f"{what} is stored and live, but its topic {topic} could not be created ({exc}); apply it "
            "again once Kafka is reachable",
            code="workflow.topic", retryable=True,
        ) from exc


def set_enabled(conn: psycopg.Connection[Any], slug: str, tenant: str, enabled: bool) -> bool:
    """Enable or disable the automation ``slug`` of ``tenant`` (the processors stop or start requesting its
    executions within a second or two; executions already requested still run). False when there is no such
    automation."""
    with conn.transaction():
        row = conn.execute(query("workflows", "set_enabled"),
                           {"tenant": tenant, "slug": slug, "enabled": enabled}).fetchone()
        if row is not None:
            conn.execute(query("workflows", "notify_config"), {"slug": slug})
    return row is not None


def list_workflows(conn: psycopg.Connection[Any], tenant: str | None = None) -> list[WorkflowSummary]:
    """Every automation (of ``tenant``, or of all tenants), by tenant and slug."""
    rows = conn.execute(query("workflows", "list_workflows"), {"tenant": tenant}).fetchall()
    return [_summary(row) for row in rows]


def get_workflow(conn: psycopg.Connection[Any], slug: str, tenant: str) -> LiveWorkflow | None:
    """The automation ``slug`` of ``tenant`` with its live definition, or None when there is none."""
    row = conn.execute(query("workflows", "get_workflow"), {"tenant": tenant, "slug": slug}).fetchone()
    if row is None:
        return None
    summary = _summary(row)
    assert summary.live_version is not None
    return LiveWorkflow(summary, WorkflowSpec.model_validate(row[8]), summary.live_version)


def _summary(row: tuple[Any, ...]) -> WorkflowSummary:
    return WorkflowSummary(automation_id=str(row[0]), tenant=row[1], slug=row[2], name=row[3], enabled=row[4],
                           live_version=row[5], triggers=list(row[7]), updated_at=row[6])
