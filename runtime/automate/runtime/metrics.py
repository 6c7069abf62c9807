"""The runtime worker's and the retry worker's Prometheus metrics (one registry per worker, so several
workers can share a process, as the processors' do).

Labels: the tenant, the workflow's slug and a step's id (tenants name those: each bounded by a
:class:`~automate.metrics.BoundedValues` of its own, and taken only from records the engine has checked),
a status, an error code (:class:`~automate.metrics.ErrorCodeLabel`), a retry tier; never an execution id,
an event's data or an error's message. Recording a figure never raises: a metric is not worth a message.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from automate.metrics import BoundedValues, ErrorCodeLabel, consumer_lag_gauge, dead_letters_counter

__all__ = ["RetryMetrics", "RuntimeMetrics"]

log = logging.getLogger("automate.runtime.metrics")

_REASONS = frozenset({"retry", "wait", "replay"})
_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class RuntimeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.tenants, self.workflows, self.steps_ = BoundedValues(), BoundedValues(), BoundedValues()
        self.codes = ErrorCodeLabel()
        self.consumer_lag = consumer_lag_gauge(r)
        self.messages = Counter("automate_runtime_messages", "Workflow-topic records taken, by kind "
                                "(request: ExecutionRequest, task: StepTask, poison: unreadable).", ["kind"],
                                registry=r)
        self.started = Counter("automate_runtime_executions_started", "Execution requests run, by tenant "
                               "and workflow (a redelivered request counts again).", ["tenant", "workflow"],
                               registry=r)
        self.ended = Counter("automate_runtime_executions_ended", "Executions that ended in this worker, by "
                             "tenant, workflow and status (SUCCESS, FAILED).",
                             ["tenant", "workflow", "status"], registry=r)
        self.pickup = Histogram("automate_runtime_request_wait_seconds", "From the processors' request "
                                "(its requested_at) to this worker taking it up, by workflow.", ["workflow"],
                                registry=r, buckets=_SECONDS)
        self.steps = Histogram("automate_runtime_step_seconds", "Step attempts, from start to recorded "
                               "result, by workflow, step and status (SUCCESS, FAILED, RETRYING, SKIPPED).",
                               ["workflow", "step", "status"], registry=r, buckets=_SECONDS)
        self.deferred = Counter("automate_runtime_deferred", "Step attempts sent to a retry tier, by "
                                "workflow, reason (retry, wait) and tier.", ["workflow", "reason", "tier"],
                                registry=r)
        self.dead_letters = dead_letters_counter(r)
        self.in_flight = Gauge("automate_runtime_in_flight", "Messages being handled now.", registry=r)

    def step(self, slug: str, step_id: str, status: str, seconds: float) -> None:
        try:
            self.steps.labels(self.workflows(slug), self.steps_(step_id), status).observe(max(0.0, seconds))
        except Exception as exc:
            log.debug("step not counted: %s", exc)

    def request(self, record: dict[str, Any]) -> None:
        """An execution request the engine has run (its tenant and workflow checked)."""
        try:
            slug = self.workflows(str(record["workflow_slug"]))
            self.started.labels(self.tenants(str(record["tenant"])), slug).inc()
            requested = record.get("requested_at")  # (timestamp-millis: read as an aware datetime)
            if isinstance(requested, datetime):
                self.pickup.labels(slug).observe(max(0.0, time.time() - requested.timestamp()))
        except Exception as exc:
            log.debug("request not counted: %s", exc)

    def end(self, record: dict[str, Any], status: str) -> None:
        try:
            tenant, slug = self.tenants(str(record["tenant"])), self.workflows(str(record["workflow_slug"]))
            self.ended.labels(tenant, slug, status).inc()
        except Exception as exc:
            log.debug("end not counted: %s", exc)

    def deferred_to(self, slug: str, reason: str, tier: str) -> None:
        try:
            self.deferred.labels(self.workflows(slug), reason if reason in _REASONS else "other", tier).inc()
        except Exception as exc:
            log.debug("deferral not counted: %s", exc)

    def dead_letter(self, code: str) -> None:
        try:
            self.dead_letters.labels("runtime", self.codes(code)).inc()
        except Exception as exc:
            log.debug("dead letter not counted: %s", exc)


class RetryMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.consumer_lag = consumer_lag_gauge(r)
        self.released = Counter("automate_retry_released", "Records sent back to their workflow topic when "
                                "due, by tier.", ["tier"], registry=r)
        self.hopped = Counter("automate_retry_hopped", "Records moved on to a longer tier (not yet due after "
                              "their tier's delay), by the tier they left.", ["tier"], registry=r)
        self.late = Histogram("automate_retry_late_seconds", "How long after its due time a record was sent "
                              "back, by tier.", ["tier"], registry=r,
                              buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.held = Gauge("automate_retry_held", "Records held until due, by tier.", ["tier"], registry=r)
        self.dead_letters = dead_letters_counter(r)
