"""What the demo's events must lead to: which executions, and how each must end.

Which automations an event starts is asked of the processors' own code: their trigger index, loaded from
the live triggers in Postgres as a processor loads it, and their rule evaluation
(:func:`automate.processors.router.matching_targets`). How each execution must end is worked out from its
workflow's ``core.fail`` steps: walked in dependency order, a step whose ``when`` holds (judged on the event
alone) fails ``times`` attempts (every attempt without ``times``), and its retry policy decides whether the
failures are retried or end the execution in the dead-letter topic. Steps after a failed one are not
counted (the demo's workflows fail in their last step).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from automate.demo.events import DemoEvent
from automate.ids import execution_id
from automate.processors.index import TriggerIndex
from automate.processors.router import Routed, matching_targets
from automate.rules import CompiledRule, RuleError, compile_rule
from automate.runtime.workflows import StepSpec, WorkflowSpec, topological_layers

__all__ = ["Expectations", "Outcome"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one execution must end: its status, its retried attempts, its dead letters."""

    status: str
    retries: int
    dead_letters: int


class _Failures:
    """The ``core.fail`` steps of one workflow, in dependency order, with their compiled ``when``."""

    def __init__(self, spec: WorkflowSpec) -> None:
        order = [spec.step(step_id) for layer in topological_layers(spec) for step_id in layer]
        self.steps: list[tuple[StepSpec, CompiledRule | None]] = [
            (step, compile_rule(step.when) if step.when is not None else None)
            for step in order if step.action == "core.fail"]

    def outcome(self, payload: dict[str, Any], event_id: str, tenant: str) -> Outcome:
        scope = {"event": {"id": event_id, "payload": payload},
                 "execution": {"id": None, "context": payload, "tenant": tenant}, "steps": {}}
        retries = 0
        for step, when in self.steps:
            try:
                if when is not None and not when.evaluate(scope):
                    continue
            except RuleError:
                continue
            times = step.input.get("times")
            retryable = step.input.get("retryable", True) is True
            if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
                times, retryable = None, False  # core.fail refuses the input: a permanent failure
            code = str(step.input.get("code", ""))
            attempt = 1
            while times is None or attempt <= times:  # this attempt fails
                if not step.retry.should_retry(code, retryable, attempt):
                    return Outcome("FAILED", retries, 1)
                retries += 1
                attempt += 1
        return Outcome("SUCCESS", retries, 0)


class Expectations:
    """The executions the demo's workflows (``specs``, of ``tenant``, applied as ``automation_ids`` by
    slug) must run for an event.

    ``index`` is the processors' trigger index; automations of the tenant that are not among ``specs``
    are left out (they are not the demo's).
    """

    def __init__(self, index: TriggerIndex, specs: Iterable[WorkflowSpec], tenant: str,
                 automation_ids: dict[str, str]) -> None:
        self.index = index
        self.tenant = tenant
        self.specs = {spec.slug: spec for spec in specs}
        self._failures = {slug: _Failures(spec) for slug, spec in self.specs.items()}
        self.automation_ids = dict(automation_ids)

    @property
    def slugs(self) -> list[str]:
        return list(self.specs)

    def describe_trigger(self, slug: str) -> str:
        parts = [t.event + (" + rule" if t.rule is not None else "") for t in self.specs[slug].all_triggers]
        return ", ".join(parts) or "none"

    def matching(self, event_type: str, payload: dict[str, Any], event_id: str) -> list[str]:
        """The slugs of the demo's workflows the event starts, as the processors decide it."""
        candidates = self.index.candidates(self.tenant, event_type)
        headers: list[tuple[str, bytes | None]] = [
            ("ce_id", event_id.encode()), ("ce_type", event_type.encode()),
            ("ce_tenant", self.tenant.encode())]
        targets = matching_targets(candidates, payload, event_id, event_type, self.tenant, 0, headers,
                                   Routed())
        return [t.slug for t in targets if t.slug in self.specs]

    def executions(self, event_type: str, payload: dict[str, Any],
                   event_id: str) -> list[tuple[str, str, Outcome]]:
        """(execution id, slug, how it must end) of every execution the event must start."""
        return [(execution_id(event_id, self.automation_ids[slug]), slug,
                 self._failures[slug].outcome(payload, event_id, self.tenant))
                for slug in self.matching(event_type, payload, event_id)]

    def plan(self, events: Iterable[DemoEvent], probe_id: str) -> Counter[str]:
        """Executions per workflow the events call for (the rules read the payload, not the event's id,
        so one probe id serves them all)."""
        return Counter(slug for e in events for slug in self.matching(e.type, e.payload, probe_id))
