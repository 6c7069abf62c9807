"""`automate bench`'s report: throughput, latency end to end and hop by hop, executions by status, retries,
CPU per 1,000 events, the machine's limits (the keys are described in docs/pipeline.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from automate.db.executions import ExecutionTiming

__all__ = ["HOPS", "Observed", "build_report", "percentiles"]

# The hops an event takes, each timed from the end of the one before.
HOPS = ("emit_to_events", "events_to_request", "request_to_first_step", "first_step_to_end")


def percentiles(values: list[float], digits: int = 1) -> dict[str, float]:
    """p50, p95, p99 (nearest rank) and max of ``values``, rounded to ``digits``; NaN when empty."""
    if not values:
        return {"p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], digits)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], digits)}


@dataclass
class Observed:
    """What the run saw: emit times by event id, arrivals on Kafka (by event id, by execution id), the
    executions' timings, retried attempts, the CPU spent, the machine's limits."""

    emitted_at: dict[str, float]
    emit_seconds: float
    timings: list[ExecutionTiming]
    arrived_events: dict[str, float] = field(default_factory=dict)
    arrived_requests: dict[str, float] = field(default_factory=dict)
    retried: list[tuple[str, str, int]] = field(default_factory=list)  # (execution, step, attempts after 1st)
    expected_retries: int = 0
    service: dict[str, int] | None = None  # the realistic workflow's HTTP service's counts
    cpu_per_1000: dict[str, float] = field(default_factory=dict)
    cpu_wall_s: float = 0.0
    limits: dict[str, float] = field(default_factory=dict)


def _ms(later: float | None, earlier: float | None, into: list[float]) -> None:
    if later is not None and earlier is not None:
        into.append((later - earlier) * 1000)


def build_report(config: Any, seen: Observed) -> dict[str, Any]:
    """The report of a run of ``config`` (a :class:`automate.bench.BenchConfig`)."""
    by_status: dict[str, int] = {}
    first_step: list[float] = []
    end: list[float] = []
    hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    last_end = 0.0
    ours: set[str] = set()
    for ident, status, event_id, first, finished in seen.timings:
        emitted = seen.emitted_at.get(event_id) if event_id is not None else None
        if emitted is None:  # the warm-up
            continue
        ours.add(ident)
        by_status[str(status)] = by_status.get(str(status), 0) + 1
        on_events = seen.arrived_events.get(str(event_id))
        requested = seen.arrived_requests.get(ident)
        _ms(first, emitted, first_step)
        _ms(finished, emitted, end)
        _ms(on_events, emitted, hops["emit_to_events"])
        _ms(requested, on_events, hops["events_to_request"])
        _ms(first, requested, hops["request_to_first_step"])
        _ms(finished, first, hops["first_step_to_end"])
        if finished is not None:
            last_end = max(last_end, float(finished))
    began = min(seen.emitted_at.values()) if seen.emitted_at else 0.0
    seconds = last_end - began if last_end else math.nan
    events_per_s = round(len(end) / seconds, 1) if seconds and not math.isnan(seconds) else 0.0
    retried = [r for r in seen.retried if r[0] in ours]
    report: dict[str, Any] = {
        "publisher": config.publisher,
        "workflow": config.workflow,
        "events": config.events,
        "rate_target": config.rate or None,
        "batch": config.batch,
        "emitters": config.emitters,
        "workers": {"relay" if config.publisher == "relay" else "publisher-watch":
                    config.relays if config.publisher == "relay" else 1,
                    "processors": config.processors, "runtime": config.runtimes, "retry-worker": 1},
        "events_per_s": events_per_s,
        "emitted_per_s": round(config.events / seen.emit_seconds, 1) if seen.emit_seconds else None,
        "seconds": round(seconds, 2),
        "executions": by_status,
        "retries": {
            "attempts": sum(n for _e, _s, n in retried),
            "executions": len({e for e, _s, _n in retried}),
            "expected": seen.expected_retries,
            **({"service_refused": seen.service["refused"], "service_requests": seen.service["requests"]}
               if seen.service is not None else {}),
        },
        "latency_ms": {"first_step": percentiles(first_step), "end": percentiles(end)},
        "hops_ms": {hop: percentiles(values) for hop, values in hops.items()},
        "hops_seen": {hop: len(values) for hop, values in hops.items()},
        "cpu_s_per_1000_events": seen.cpu_per_1000,
        "cpu_window_s": round(seen.cpu_wall_s, 2),
    }
    if seen.limits:
        report["limits"] = seen.limits
        report["fraction_of_limit"] = {
            "postgres_commits": round(events_per_s / seen.limits["postgres_commits_per_s"], 3),
            "kafka_produce": round(events_per_s / seen.limits["kafka_produce_per_s"], 4),
        }
    return report
