"""The live pipeline every hostile case runs through, and the checks each case ends with.

Each module gets its own database (cloned from the migrated template) and topics, and the pipeline's
workers as processes of their own (relay, processors, runtime, retry worker, through
:class:`automate.supervise.WorkerSet`), as they run in production. A hostile case sends its input as
tenant ``acme`` (the attacker), then proves with :meth:`LivePipeline.assert_healthy` that no worker died
and that tenant ``globex``'s canary automation still runs an event end to end.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from automate.config import Settings
from automate.dead_letters import read_dead_letters
from automate.events import emit_event
from automate.records import Records
from automate.supervise import WorkerSet
from tests.integration.runtime_support import apply_workflow

ATTACKER = "acme"
VICTIM = "globex"
TERMINAL = ("SUCCESS", "FAILED", "CANCELED")
CANARY = {"slug": "canary", "name": "the other tenant's canary", "trigger": {"event": "canary.ping"},
          "steps": [{"id": "pong", "action": "core.noop"}]}


class LivePipeline:
    """Worker processes on one database and topic prefix; ``settings`` act as the attacking tenant."""

    def __init__(self, base: Settings, log_dir: Path) -> None:
        self.base = Settings(**{**base.model_dump(), "http_allowlist": ("127.0.0.1/32",)})
        self.settings = self.as_tenant(ATTACKER)
        self.victim = self.as_tenant(VICTIM)
        self.workers = WorkerSet(self.base, log_dir)
        apply_workflow(self.victim, CANARY)

    def as_tenant(self, tenant: str) -> Settings:
        return Settings(**{**self.base.model_dump(), "tenant": tenant})

    def apply(self, definition: dict[str, Any], tenant: str = ATTACKER) -> str:
        """Apply a workflow for ``tenant`` and wait until the processors have reloaded their automations
        (an event emitted before that finds no trigger and is skipped); returns the automation id."""
        before = self._reloads()
        automation_id = apply_workflow(self.as_tenant(tenant), definition)
        if self.workers.procs:
            deadline = time.monotonic() + 60
            while self._reloads() <= before and time.monotonic() < deadline:
                time.sleep(0.05)
        return automation_id

    def _reloads(self) -> int:
        """How many times the processors have loaded the automations so far (their log says each)."""
        try:
            text = (self.workers.log_dir / "processors-0.log").read_text(errors="replace")
        except OSError:
            return 0
        return text.count("automations loaded")

    def emit(self, type: str, payload: dict[str, Any], tenant: str = ATTACKER) -> str:
        return emit_event(type, payload, settings=self.as_tenant(tenant))

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.base.dsn) as conn:
            return [tuple(row) for row in conn.execute(sql, params).fetchall()]

    def executions(self, event_id: str) -> list[tuple[str, str, str | None]]:
        """(execution id, status, error code) of each execution the event started."""
        return [(str(r[0]), r[1], r[2]) for r in self.query(
            "SELECT id, status, error->>'code' FROM execution WHERE event_id = %s ORDER BY id", event_id)]

    def settled(self, event_id: str, count: int = 1,
                timeout: float = 60.0) -> list[tuple[str, str, str | None]]:
        """Wait until the event has ``count`` executions, all in a terminal state; returns them."""
        deadline = time.monotonic() + timeout
        found = self.executions(event_id)
        while time.monotonic() < deadline:
            if len(found) >= count and all(status in TERMINAL for _, status, _ in found):
                return found
            time.sleep(0.2)
            found = self.executions(event_id)
        raise AssertionError(f"event {event_id}: executions not settled after {timeout}s: {found}; "
                             f"dead workers: {self.workers.dead()}")

    def dead_letters(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every dead letter on the installation's dead-letter topic so far, oldest first per partition."""
        return [record for _, _, record in read_dead_letters(self.base, Records.load(self.base), timeout)]

    def assert_healthy(self, timeout: float = 60.0) -> None:
        """No worker died, and the other tenant's canary event still runs to SUCCESS."""
        assert not self.workers.dead(), f"workers died: {self.workers.dead()}"
        event_id = emit_event("canary.ping", {"probe": uuid.uuid4().hex}, settings=self.victim)
        found = self.settled(event_id, timeout=timeout)
        assert [status for _, status, _ in found] == ["SUCCESS"], found
        assert not self.workers.dead(), f"workers died: {self.workers.dead()}"
