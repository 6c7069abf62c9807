"""Automations, their workflow versions and triggers (tables ``automation``, ``workflow``, ``trigger``)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from automate.db.store import AsyncStore, Store

__all__ = ["AsyncWorkflowStore", "WorkflowStore"]


class WorkflowStore(Store):
    """Named queries of automations and workflow versions (async twin: :class:`AsyncWorkflowStore`).

    Applying a version is several of these in one transaction (``automate.runtime.workflows.store``).
    """

    group = "workflows"

    def lock_automation(self, tenant: str, slug: str) -> tuple[str, int | None] | None:
        """(id, live version) of the automation, locked until the transaction ends; None if there is none."""
        row = self._one("lock_automation", {"tenant": tenant, "slug": slug})
        return None if row is None else (str(row[0]), row[1])

    def lock_slug(self, slug: str) -> None:
        """Hold the applies of ``slug``, whatever their tenant, until this transaction ends."""
        self._execute("lock_slug", {"slug": slug})

    def slug_tenants(self, slug: str) -> list[str]:
        """The tenants with an automation of ``slug`` (more than one only on installations older than
        the rule that a slug is one tenant's)."""
        return [str(row[0]) for row in self._all("slug_tenants", {"slug": slug})]

    def insert_automation(self, *, id: str, tenant: str, slug: str, name: str) -> None:
        """A new automation (nothing when another transaction created it first)."""
        self._execute("insert_automation", {"id": id, "tenant": tenant, "slug": slug, "name": name})

    def workflow_digest(self, automation_id: str, version: int) -> tuple[str, str] | None:
        """(workflow id, digest) of one version."""
        row = self._one("workflow_digest", {"automation_id": automation_id, "version": version})
        return None if row is None else (str(row[0]), str(row[1]))

    def next_version(self, automation_id: str) -> int:
        row = self._one("next_workflow_version", {"automation_id": automation_id})
        assert row is not None
        return int(row[0])

    def insert_workflow(self, *, id: str, automation_id: str, version: int, definition: Any,
                        digest: str) -> None:
        self._execute("insert_workflow", {"id": id, "automation_id": automation_id, "version": version,
                                          "definition": Jsonb(definition), "digest": digest})

    def set_live_version(self, automation_id: str, version: int, name: str) -> None:
        self._execute("set_live_version", {"automation_id": automation_id, "version": version, "name": name})

    def replace_triggers(self, automation_id: str, triggers: list[tuple[str, str, Any]]) -> None:
        """The automation's triggers become ``triggers``: (id, event pattern, rule or None) each."""
        self._execute("delete_triggers", {"automation_id": automation_id})
        for ident, pattern, rule in triggers:
            self._execute("insert_trigger", {"id": ident, "automation_id": automation_id,
                                             "event_pattern": pattern,
                                             "rule": Jsonb(rule) if rule is not None else None})

    def notify_config(self, slug: str) -> None:
        """Tell the processors (``LISTEN automate_config``) at commit that automations changed."""
        self._execute("notify_config", {"slug": slug})

    def listen_for_changes(self) -> None:
        """Receive the notifications of :meth:`notify_config` on this (autocommit) connection."""
        self._execute("listen_config")

    def set_enabled(self, tenant: str, slug: str, enabled: bool) -> bool:
        """False when there is no such automation."""
        return self._one("set_enabled", {"tenant": tenant, "slug": slug, "enabled": enabled}) is not None

    def automations(self, tenant: str | None) -> list[tuple[Any, ...]]:
        """(id, tenant, slug, name, enabled, live version, updated at, trigger patterns) of every
        automation (of ``tenant``, or of all), by tenant and slug."""
        return self._all("list_workflows", {"tenant": tenant})

    def get(self, tenant: str, slug: str) -> tuple[Any, ...] | None:
        """The row :meth:`automations` gives, and the live definition, of one automation with a live
        version."""
        return self._one("get_workflow", {"tenant": tenant, "slug": slug})

    def live_triggers(self) -> list[tuple[Any, ...]]:
        """(automation id, tenant, slug, live version, event pattern, rule) of every trigger of every
        enabled automation's live version: what the processors match events against."""
        return self._all("live_triggers")

    def live_workflow(self, tenant: str, slug: str) -> tuple[str, str, int] | None:
        """(automation id, workflow id, version) of an enabled automation's live version."""
        row = self._one("live_workflow", {"tenant": tenant, "slug": slug})
        return None if row is None else (str(row[0]), str(row[1]), int(row[2]))

    def insert_requested_execution(self, execution: dict[str, Any]) -> None:
        """A PENDING execution that ``run_workflow`` requested (``id``, ``tenant``, ``automation_id``,
        ``workflow_id``, ``context``)."""
        self._execute("insert_execution", {**execution, "context": Jsonb(execution["context"])})


class AsyncWorkflowStore(AsyncStore):
    """Async twin of :class:`WorkflowStore` (what ``arun_workflow`` needs of it)."""

    group = "workflows"

    async def live_workflow(self, tenant: str, slug: str) -> tuple[str, str, int] | None:
        row = await self._one("live_workflow", {"tenant": tenant, "slug": slug})
        return None if row is None else (str(row[0]), str(row[1]), int(row[2]))

    async def insert_requested_execution(self, execution: dict[str, Any]) -> None:
        await self._execute("insert_execution", {**execution, "context": Jsonb(execution["context"])})
