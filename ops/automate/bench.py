"""`automate bench`: the whole pipeline end to end, measured against the machine's own limits.

In a database and topics of its own (dropped afterwards), the benchmark applies a 3-step no-op workflow
triggered by ``bench.tick``, starts every worker as its own process (relay, processors, runtime, retry
worker), emits N events (at a target rate, or as fast as it can; ``batch`` events per transaction, as a
service emitting several events per request would) and waits until each event's execution has finished.
It reports events/s from the first emit to the last execution's end, the latency from emit to the first
step's start and to the execution's end (p50/p95/p99), and, measured in the same run, raw Postgres
single-row commits/s and raw Kafka produce/consume msgs/s, so the pipeline shows as a fraction of them.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automate import transport
from automate.config import Settings
from automate.db import connect, dsn_of_database
from automate.db.admin import DatabaseAdmin
from automate.db.executions import ExecutionStore
from automate.db.store import Store
from automate.errors import CheckFailed

__all__ = [
    "WORKFLOW", "BenchConfig", "cleanup", "fresh_database", "measure_limits", "percentiles", "run_bench",
    "warm_up",
]

WORKFLOW = {
    "slug": "bench-noop", "name": "Benchmark: three no-op steps",
    "trigger": {"event": "bench.tick"},
    "steps": [{"id": "a", "action": "core.noop"}, {"id": "b", "action": "core.noop", "needs": ["a"]},
              {"id": "c", "action": "core.noop", "needs": ["b"]}],
}


@dataclass(frozen=True)
class BenchConfig:
    events: int = 20_000
    rate: float = 0.0  # events/s; 0: as fast as possible
    batch: int = 20  # events per transaction
    emitters: int = 4  # connections emitting at once, as a service's concurrent requests would
    processors: int = 1
    runtimes: int = 1
    relays: int = 1
    timeout_s: float = 600.0
    keep: bool = False


@dataclass
class Progress:
    finished: int = 0
    phase: str = "setup"
    notes: list[str] = field(default_factory=list)
    by_emitter: list[int] = field(default_factory=list)  # events emitted by each emitter

    @property
    def emitted(self) -> int:
        return sum(self.by_emitter)


def percentiles(values: list[float], digits: int = 1) -> dict[str, float]:
    """p50, p95, p99 (nearest rank) and max of ``values``, rounded to ``digits``; NaN when empty."""
    if not values:
        return {"p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], digits)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], digits)}


def fresh_database(base: Settings, name: str, prefix: str) -> Settings:
    from automate.db import migrate, set_publisher
    from automate.registry import register_contracts
    from automate.topics import core_topics, ensure_topics

    with connect(base, autocommit=True) as conn:
        admin = DatabaseAdmin(conn)
        admin.drop(name)
        admin.create(name)
    settings = Settings(**{**base.model_dump(), "database_url": dsn_of_database(base, name),
                           "publisher": "relay", "topic_prefix": prefix})
    with connect(settings) as conn:
        migrate(conn)
        set_publisher(conn, "relay")
        register_contracts(settings, conn)
    ensure_topics(settings, core_topics(settings))
    return settings


def cleanup(base: Settings, settings: Settings, name: str) -> None:
    transport.delete_topics(settings, settings.topic_prefix + ".")
    with connect(base, autocommit=True) as conn:
        DatabaseAdmin(conn).drop(name)


class CommitProbe(Store):
    """Single-row commits on a temporary table of its own: what the server's commits cost."""

    group = "bench"

    def create_table(self) -> None:
        self._execute("create_commit_table")

    def insert(self, n: int) -> None:
        self._execute("insert_commit", {"n": n})


def measure_limits(settings: Settings, seconds: float = 3.0, messages: int = 200_000) -> dict[str, float]:
    """Raw single-row Postgres commits/s, and Kafka produce and consume msgs/s (100-byte records)."""
    from automate.topics import ensure_topics

    out: dict[str, float] = {}
    with connect(settings, autocommit=True) as conn:
        probe = CommitProbe(conn)
        probe.create_table()
        n, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            with conn.transaction():
                probe.insert(n)
            n += 1
        out["postgres_commits_per_s"] = round(n / (time.perf_counter() - began))
    topic = settings.topic(f"limits.{uuid.uuid4().hex[:8]}")
    ensure_topics(settings, [topic])
    try:
        producer = transport.producer(settings, **{"linger.ms": 5, "queue.buffering.max.messages": 1_000_000})
        payload = b"x" * 100
        began = time.perf_counter()
        for i in range(messages):
            while True:
                try:
                    producer.produce(topic, payload, str(i).encode())
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(120)
        out["kafka_produce_per_s"] = round(messages / (time.perf_counter() - began))
        consumer = transport.consumer(settings, f"bench-limits-{uuid.uuid4().hex}")
        consumer.subscribe([topic])
        got, began, first = 0, time.perf_counter(), 0.0
        deadline = began + 120
        while got < messages and time.perf_counter() < deadline:
            batch = consumer.consume(10_000, 1.0)
            if batch and not first:
                first = time.perf_counter()
            got += sum(1 for m in batch if not m.error())
        consumer.close()
        out["kafka_consume_per_s"] = round(got / (time.perf_counter() - (first or began)))
    finally:
        transport.delete_topics(settings, topic)
    return out


def _emit(settings: Settings, config: BenchConfig, me: int, emitted_at: dict[str, float],
          progress: Progress, failures: list[BaseException]) -> None:
    """Emitter ``me`` of ``config.emitters``: its share of the events, at its share of the rate."""
    from automate.events import emit_event

    share = config.events // config.emitters + (1 if me < config.events % config.emitters else 0)
    rate = config.rate / config.emitters
    try:
        with connect(settings, application_name="automate-bench-emit") as conn:
            began = time.perf_counter()
            i = 0
            while i < share:
                if rate:
                    due = began + i / rate
                    while (now := time.perf_counter()) < due:
                        time.sleep(min(0.002, due - now))
                size = min(config.batch, share - i)
                if rate:  # at a target rate, each transaction holds what is due by now
                    size = max(1, min(size, int((time.perf_counter() - began) * rate) - i + 1))
                stamp = time.time()
                ids = [emit_event("bench.tick", {"n": i + k, "emitter": me}, connection=conn,
                                  settings=settings) for k in range(size)]
                conn.commit()
                for ident in ids:
                    emitted_at[ident] = stamp
                i += size
                progress.by_emitter[me] = i
    except BaseException as exc:  # surfaced by run_bench
        failures.append(exc)


def run_bench(base: Settings, config: BenchConfig, log_dir: Path,
              on_progress: Callable[[Progress], None] = lambda _p: None) -> dict[str, Any]:
    """Run the benchmark; returns the report (see the module docstring)."""
    from automate.runtime.actions import registry
    from automate.runtime.workflows import validate
    from automate.runtime.workflows.store import apply
    from automate.supervise import WorkerSet

    name = "automate_bench"
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    progress = Progress()
    settings = fresh_database(base, name, prefix)
    try:
        progress.phase = "limits"
        on_progress(progress)
        limits = measure_limits(settings)
        with connect(settings) as conn:
            apply(conn, validate(WORKFLOW, registry.names()), settings)
        counts = {"relay": config.relays, "processors": config.processors, "runtime": config.runtimes,
                  "retry-worker": 1}
        workers = WorkerSet(settings, log_dir, counts=counts)
        with workers:
            progress.phase = "warm-up"
            on_progress(progress)
            warm_up(settings, workers)
            emitted_at: dict[str, float] = {}
            failures: list[BaseException] = []
            progress.by_emitter = [0] * config.emitters
            emitters = [threading.Thread(target=_emit, args=(settings, config, me, emitted_at, progress,
                                                             failures), daemon=True)
                        for me in range(config.emitters)]
            progress.phase = "running"
            started = time.time()
            for emitter in emitters:
                emitter.start()
            deadline = time.monotonic() + config.timeout_s
            with connect(settings, autocommit=True) as conn:
                executions = ExecutionStore(conn)
                while True:
                    progress.finished = executions.finished_since(started)
                    on_progress(progress)
                    if failures:
                        raise CheckFailed(f"emitting failed: {failures[0]}") from failures[0]
                    if progress.finished >= config.events:
                        break
                    dead = workers.dead()
                    if dead:
                        raise CheckFailed(f"worker(s) exited: {', '.join(dead)}; see {log_dir}")
                    if time.monotonic() > deadline:
                        raise CheckFailed(f"{progress.finished} of {config.events} executions finished "
                                           f"within {config.timeout_s:.0f}s")
                    # (The count reads the whole execution table: once a second keeps it out of the way;
                    # the report's numbers come from the rows' own timestamps, not from this loop.)
                    time.sleep(1.0)
            for emitter in emitters:
                emitter.join()
            emit_seconds = max(emitted_at.values()) - min(emitted_at.values()) if emitted_at else 0.0
        progress.phase = "report"
        on_progress(progress)
        report = _report(settings, config, emitted_at, emit_seconds, limits)
    finally:
        if not config.keep:
            cleanup(base, settings, name)
    return report


def warm_up(settings: Settings, workers: Any) -> None:
    """One event through the whole pipeline: every consumer has joined its group and loaded its state."""
    from automate.events import emit_event

    event_id = emit_event("bench.tick", {"n": -1}, settings=settings)
    deadline = time.monotonic() + 120
    with connect(settings, autocommit=True) as conn:
        executions = ExecutionStore(conn)
        while time.monotonic() < deadline:
            if executions.status_of_event(event_id) == "SUCCESS":
                return
            dead = workers.dead()
            if dead:
                raise CheckFailed(f"worker(s) exited during warm-up: {', '.join(dead)}")
            time.sleep(0.2)
    raise CheckFailed("the warm-up event's execution did not finish within 120 s; see the worker logs")


def _report(settings: Settings, config: BenchConfig, emitted_at: dict[str, float], emit_seconds: float,
            limits: dict[str, float]) -> dict[str, Any]:
    with connect(settings) as conn:
        rows = ExecutionStore(conn).event_timings()
    by_status: dict[str, int] = {}
    first_step: list[float] = []
    end: list[float] = []
    last_end = 0.0
    for _ident, status, event_id, first, finished in rows:
        emitted = emitted_at.get(event_id) if event_id is not None else None
        if emitted is None:  # the warm-up
            continue
        by_status[str(status)] = by_status.get(str(status), 0) + 1
        if first is not None:
            first_step.append((float(first) - emitted) * 1000)
        if finished is not None:
            end.append((float(finished) - emitted) * 1000)
            last_end = max(last_end, float(finished))
    began = min(emitted_at.values()) if emitted_at else 0.0
    seconds = last_end - began if last_end else float("nan")
    events_per_s = round(len(end) / seconds, 1) if seconds and seconds == seconds else 0.0
    return {
        "events": config.events,
        "rate_target": config.rate or None,
        "batch": config.batch,
        "emitters": config.emitters,
        "workers": {"relay": config.relays, "processors": config.processors, "runtime": config.runtimes,
                    "retry-worker": 1},
        "events_per_s": events_per_s,
        "emitted_per_s": round(config.events / emit_seconds, 1) if emit_seconds else None,
        "seconds": round(seconds, 2),
        "executions": by_status,
        "latency_ms": {"first_step": percentiles(first_step), "end": percentiles(end)},
        "limits": limits,
        "fraction_of_limit": {
            "postgres_commits": round(events_per_s / limits["postgres_commits_per_s"], 3),
            "kafka_produce": round(events_per_s / limits["kafka_produce_per_s"], 4),
        },
    }
