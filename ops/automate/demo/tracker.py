"""The demo's view of Postgres: the executions its events must start, followed by id.

Only the demo's own rows are counted: the executions it expects are named by id
(``uuid5(event id, automation id)``, as the processors derive them). An execution that has ended does
not change any more, so each refresh asks only about those still under way (and those not created yet):
what a refresh costs follows the executions in flight, not the size of the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator
from typing import TypeVar

from automate.config import Settings
from automate.db import connect
from automate.db.executions import ExecutionStore, ExecutionTiming
from automate.demo.events import DemoEvent
from automate.demo.expectations import Expectations, Outcome
from automate.demo.view import TERMINAL

__all__ = ["Emitted", "Tracker"]

Emitted = tuple[str, str, int, float]  # (event id, type, index in the demo's events, emit time)
T = TypeVar("T")
_CHUNK = 5000  # ids per query


def _chunked(ids: Collection[str], ask: Callable[[list[str]], list[T]]) -> Iterator[T]:
    listed = list(ids)
    for start in range(0, len(listed), _CHUNK):
        yield from ask(listed[start:start + _CHUNK])


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
        self._ended: dict[str, str] = {}  # execution id -> its final status
        self._ended_retries: Counter[tuple[str, str]] = Counter()  # (slug, step) -> retried attempts
        self._live_retries: Counter[tuple[str, str]] = Counter()

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

    def refresh(self) -> dict[str, Counter[str]]:
        """Per workflow, the expected executions by status (MISSING: not created yet); also brings the
        retried attempts (:meth:`retries_by_step`) up to date."""
        pending = [ident for ident in self.expected if ident not in self._ended]
        statuses: dict[str, str] = {}
        for ident, status in _chunked(pending, lambda ids: list(self.store.statuses(ids).items())):
            statuses[ident] = status
        ended = [ident for ident in pending if statuses.get(ident) in TERMINAL]
        self._ended_retries.update(self._retried(ended))
        self._ended.update((ident, statuses[ident]) for ident in ended)
        self._live_retries = self._retried([ident for ident in pending if ident not in self._ended])
        counts: dict[str, Counter[str]] = {slug: Counter() for slug in self.expectations.slugs}
        for ident, (slug, _outcome) in self.expected.items():
            counts[slug][self._ended.get(ident) or statuses.get(ident, "MISSING")] += 1
        return counts

    def _retried(self, ids: list[str]) -> Counter[tuple[str, str]]:
        total: Counter[tuple[str, str]] = Counter()
        for ident, step, n in _chunked(ids, self.store.retried_attempts):
            total[(self.expected[ident][0], step)] += n
        return total

    def retries_by_step(self) -> list[tuple[str, str, int]]:
        """(slug, step, attempts after the first) of the retried steps, as of the last refresh."""
        total = self._ended_retries + self._live_retries
        return [(slug, step, n) for (slug, step), n in sorted(total.items())]

    def retries(self) -> Counter[str]:
        """Attempts after the first, per workflow, as of the last refresh."""
        total: Counter[str] = Counter()
        for slug, _step, n in self.retries_by_step():
            total[slug] += n
        return total

    def step_retries_of(self) -> dict[str, int]:
        """Attempts after the first, per execution (read now)."""
        total: Counter[str] = Counter()
        for ident, _step, n in _chunked(self.expected, self.store.retried_attempts):
            total[ident] += n
        return dict(total)

    def unexpected(self) -> int:
        """Executions of the demo's events and workflows that no rule called for."""
        automations = list(self.expectations.automation_ids.values())
        found = _chunked(self.event_ids, lambda ids: self.store.of_events(ids, automations))
        return sum(1 for ident in found if ident not in self.expected)

    def timings(self) -> list[ExecutionTiming]:
        """Status, event, first step's start and end of each expected execution (None: not created)."""
        found = {t.id: t for t in _chunked(self.expected, self.store.timings)}
        return [found.get(ident, ExecutionTiming(ident, None, None, None, None)) for ident in self.expected]
