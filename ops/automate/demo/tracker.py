"""The demo's view of Postgres: the executions its events must start, followed by id.

Only the demo's own rows are counted: the executions it expects are named by id
(``uuid5(event id, automation id)``, as the processors derive them).
"""

from __future__ import annotations

from collections import Counter

from automate.config import Settings
from automate.db import connect
from automate.db.executions import ExecutionStore, ExecutionTiming
from automate.demo.events import DemoEvent
from automate.demo.expectations import Expectations, Outcome

__all__ = ["Emitted", "Tracker"]

Emitted = tuple[str, str, int, float]  # (event id, type, index in the demo's events, emit time)


class Tracker:
    """The expected executions of the events emitted so far, and where they stand."""

    def __init__(self, settings: Settings, expectations: Expectations, events: list[DemoEvent]) -> None:
        self.conn = connect(settings, autocommit=True, application_name="automate-demo")
        self.store = ExecutionStore(self.conn)
        self.expectations = expectations
        self.events = events
        self.synced = 0
        self.event_ids: list[str] = []
        self.expected: dict[str, tuple[str, Outcome]] = {}  # execution id -> (slug, outcome)

    def close(self) -> None:
        self.conn.close()

    def sync(self, emitted: list[Emitted]) -> None:
        """Take in the events emitted since the last call and the executions they must start."""
        new = emitted[self.synced:]
        for event_id, event_type, index, _stamp in new:
            self.event_ids.append(event_id)
            for ident, slug, outcome in self.expectations.executions(event_type, self.events[index].payload,
                                                                     event_id):
                self.expected[ident] = (slug, outcome)
        self.synced += len(new)

    def status_counts(self) -> dict[str, Counter[str]]:
        """Per workflow, the expected executions by status (MISSING: not created yet)."""
        statuses = self.store.statuses(self.expected)
        counts: dict[str, Counter[str]] = {slug: Counter() for slug in self.expectations.slugs}
        for ident, (slug, _outcome) in self.expected.items():
            counts[slug][statuses.get(ident, "MISSING")] += 1
        return counts

    def retries_by_step(self) -> list[tuple[str, str, int]]:
        """(slug, step, attempts after the first) of the retried steps, by slug and step."""
        total: Counter[tuple[str, str]] = Counter()
        for ident, step, n in self.store.retried_attempts(self.expected):
            total[(self.expected[ident][0], step)] += n
        return [(slug, step, n) for (slug, step), n in sorted(total.items())]

    def retries(self) -> Counter[str]:
        """Attempts after the first, per workflow."""
        total: Counter[str] = Counter()
        for slug, _step, n in self.retries_by_step():
            total[slug] += n
        return total

    def step_retries_of(self) -> dict[str, int]:
        """Attempts after the first, per execution."""
        total: Counter[str] = Counter()
        for ident, _step, n in self.store.retried_attempts(self.expected):
            total[ident] += n
        return dict(total)

    def unexpected(self) -> int:
        """Executions of the demo's events and workflows that no rule called for."""
        found = self.store.of_events(self.event_ids, self.expectations.automation_ids.values())
        return sum(1 for ident in found if ident not in self.expected)

    def timings(self) -> list[ExecutionTiming]:
        """Status, event, first step's start and end of each expected execution (None: not created)."""
        found = {t.id: t for t in self.store.timings(self.expected)}
        return [found.get(ident, ExecutionTiming(ident, None, None, None, None)) for ident in self.expected]
