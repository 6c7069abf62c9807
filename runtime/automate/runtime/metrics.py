"""The runtime worker's and the retry worker's Prometheus metrics (one registry per worker, so several
workers can share a process, as the processors' do).

Labels: the tenant, the workflow's slug and a step's id (tenants name those: bounded by
:class:`~automate.metrics.BoundedValues`), a status, an error code, a retry tier; never an execution id, an
event's data or an error's message.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from automate.metrics import BoundedValues, consumer_lag_gauge, dead_letters_counter

__all__ = ["RetryMetrics", "RuntimeMetrics"]

_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class RuntimeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.names = BoundedValues()  # tenants, slugs and step ids
        self.consumer_lag = consumer_lag_gauge(r)
        self.messages = Counter("automate_runtime_messages", "Workflow-topic records taken, by kind "
                                "(request: ExecutionRequest, task: StepTask, poison: unreadable).", ["kind"],
                                registry=r)
        self.started = Counter("automate_runtime_executions_started", "Execution requests taken, by tenant "
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
        self.steps.labels(self.names(slug), self.names(step_id), status).observe(max(0.0, seconds))

    def end(self, tenant: str, slug: str, status: str) -> None:
        self.ended.labels(self.names(tenant), self.names(slug), status).inc()


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
