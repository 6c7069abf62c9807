"""What every processor engine shares, whatever moves the records: the router with the live trigger index
(hot reload through :class:`~automate.processors.config.ConfigWatcher`, the workflows' topics made to
exist first), the poison letter of a record that cannot be read, and the tally of what a batch of
records came to (metrics and counters). The confluent-kafka loop (:mod:`automate.processors.worker`) and
the Faust agent (:mod:`automate.processors.faust_agent`) are transports around it.
"""

from __future__ import annotations

import collections
import logging
import time

from automate.config import Settings
from automate.dead_letters import DeadLetter
from automate.processors.config import ConfigWatcher
from automate.processors.decoding import EventSchemas
from automate.processors.index import TriggerIndex
from automate.processors.metrics import ProcessorMetrics
from automate.processors.router import Routed, Router
from automate.records import Records
from automate.sizes import record_max_bytes
from automate.topics import dlq_topic, ensure_topics
from automate.tracing import TRACEPARENT

__all__ = ["ProcessorCore", "Tally", "request_headers"]

log = logging.getLogger("automate.processors")


def request_headers(routed: Routed) -> list[tuple[str, str | bytes | None]] | None:
    """The headers of an event's requests: its trace context, when it has one."""
    return None if routed.traceparent is None else [(TRACEPARENT, routed.traceparent)]


class ProcessorCore:
    """The router of one processor worker and what keeps its trigger index current."""

    def __init__(self, settings: Settings, metrics: ProcessorMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or ProcessorMetrics()
        self.records = Records.load(settings)
        self.router = Router(settings, EventSchemas.load(settings), self.records)
        self.watcher = ConfigWatcher(settings, self.swap)
        self.stats: collections.Counter[str] = collections.Counter()
        self._known_topics: set[str] = set()

    def start_watching(self) -> None:
        """Start the config watcher (a fresh one when this one ran before: an agent Faust restarts);
        returns once the first index is loaded."""
        if self.watcher.started:
            self.watcher = ConfigWatcher(self.settings, self.swap)
        self.watcher.start()

    def swap(self, index: TriggerIndex) -> None:
        """Called by the config watcher: make the workflows' topics exist, then route with ``index``."""
        topics = {self.router.topic_of(t.slug) for t in index.targets} - self._known_topics
        if topics:
            try:
                ensure_topics(self.settings, topics, timeout=10)
                self._known_topics |= topics
            except Exception as exc:  # production retries and reports undeliverable requests
                log.warning("could not ensure workflow topics",
                            extra={"action": "processors.topics", "error": str(exc)[:300]})
        self.router.index = index
        self.metrics.automations.set(len(index))
        self.metrics.reloads.inc()

    def poison_letter(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                      code: str, message: str) -> tuple[str, str | None, bytes]:
        """(dead-letter topic, key, value) of the letter for a record that cannot be read or delivered."""
        log.warning("poison record dead-lettered", extra={
            "action": "processors.poison", "code": code, "error": message[:300],
            "topic": topic, "partition": partition, "offset": offset})
        self.metrics.dead_letters.labels("processors", code).inc()
        letter = DeadLetter.poison(code=code, message=message, source_topic=topic, original=value)
        return (dlq_topic(self.settings), key.decode(errors="replace") if key else None,
                letter.encode(self.records, max_original=record_max_bytes(self.settings)))

    def tally(self) -> Tally:
        return Tally(self)


class Tally:
    """What a batch of records came to, counted as it is routed and recorded at :meth:`done` (one update
    of each metric per batch, not per record)."""

    __slots__ = ("by_workflow", "core", "matched", "poison", "rule_errors", "timestamps", "unmatched")

    def __init__(self, core: ProcessorCore) -> None:
        self.core = core
        self.matched = self.unmatched = self.poison = self.rule_errors = 0
        self.by_workflow: collections.Counter[str] = collections.Counter()
        self.timestamps: list[int] = []

    def routed(self, routed: Routed, timestamp_ms: int) -> None:
        self.timestamps.append(timestamp_ms)
        self.rule_errors += routed.rule_errors
        metrics = self.core.metrics
        for slug in routed.rule_limits:
            metrics.rule_limits.labels(slug).inc()
        if routed.candidates:
            metrics.rule_seconds.observe(routed.rule_seconds)
        if routed.requests:
            self.matched += 1
            for request in routed.requests:
                self.by_workflow[request.slug] += 1
        else:
            self.unmatched += 1

    def done(self) -> None:
        m = self.core.metrics
        now_ms = time.time() * 1000
        for timestamp in self.timestamps:
            m.event_age.observe(max(0.0, now_ms - timestamp) / 1000)
        if self.matched:
            m.events.labels("matched").inc(self.matched)
        if self.unmatched:
            m.events.labels("unmatched").inc(self.unmatched)
        if self.poison:
            m.events.labels("poison").inc(self.poison)
        if self.rule_errors:
            m.rule_errors.inc(self.rule_errors)
        for slug, count in self.by_workflow.items():
            m.requests.labels(slug).inc(count)
        self.core.stats.update(events=len(self.timestamps) + self.poison, matched=self.matched,
                               unmatched=self.unmatched, poison=self.poison,
                               requests=sum(self.by_workflow.values()), rule_errors=self.rule_errors)
