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

import psycopg

from automate.config import Settings

__all__ = ["BenchConfig", "measure_limits", "percentiles", "run_bench"]

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


def _fresh_database(base: Settings, name: str, prefix: str) -> Settings:
    from automate.db import migrate, set_publisher
    from automate.registry import register_contracts
    from automate.topics import core_topics, ensure_topics

    with psycopg.connect(base.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(base.dsn)
    info["dbname"] = name
    settings = Settings(**{**base.model_dump(), "database_url": psycopg.conninfo.make_conninfo("", **info),
                           "publisher": "relay", "topic_prefix": prefix})
    with psycopg.connect(settings.dsn) as conn:
        migrate(conn)
        set_publisher(conn, "relay")
        register_contracts(settings, conn)
    ensure_topics(settings, core_topics(settings))
    return settings


def _cleanup(base: Settings, settings: Settings, name: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 0})
    mine = [t for t in admin.list_topics(timeout=30).topics if t.startswith(settings.topic_prefix + ".")]
    if mine:
        for future in admin.delete_topics(mine, operation_timeout=60).values():
            future.result(120)
    with psycopg.connect(base.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure_limits(settings: Settings, seconds: float = 3.0, messages: int = 200_000) -> dict[str, float]:
    """Raw single-row Postgres commits/s, and Kafka produce and consume msgs/s (100-byte records)."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient

    from automate.topics import ensure_topics

    out: dict[str, float] = {}
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE bench_commit (id bigint, at timestamptz DEFAULT now())")
        n, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            with conn.transaction():
                conn.execute("INSERT INTO bench_commit (id) VALUES (%s)", (n,))
            n += 1
        out["postgres_commits_per_s"] = round(n / (time.perf_counter() - began))
    topic = settings.topic(f"limits.{uuid.uuid4().hex[:8]}")
    ensure_topics(settings, [topic])
    try:
        producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 5,
                             "enable.idempotence": True, "queue.buffering.max.messages": 1_000_000,
                             "log_level": 3})
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
        consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "log_level": 3,
                             "group.id": f"bench-limits-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
                             "enable.auto.commit": False})
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
        admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 0})
        for future in admin.delete_topics([topic]).values():
            future.result(60)
    return out


def _emit(settings: Settings, config: BenchConfig, me: int, emitted_at: dict[str, float],
          progress: Progress, failures: list[BaseException]) -> None:
    """Emitter ``me`` of ``config.emitters``: its share of the events, at its share of the rate."""
    from automate.events import emit_event

    share = config.events // config.emitters + (1 if me < config.events % config.emitters else 0)
    rate = config.rate / config.emitters
    try:
        with psycopg.connect(settings.dsn) as conn:
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
    from automate.runtime.workflow_store import apply
    from automate.runtime.workflows import validate
    from automate.supervise import WorkerSet

    name = "automate_bench"
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    progress = Progress()
    settings = _fresh_database(base, name, prefix)
    try:
        progress.phase = "limits"
        on_progress(progress)
        limits = measure_limits(settings)
        with psycopg.connect(settings.dsn) as conn:
            apply(conn, validate(WORKFLOW, registry.names()), settings)
        counts = {"relay": config.relays, "processors": config.processors, "runtime": config.runtimes,
                  "retry-worker": 1}
        workers = WorkerSet(settings, log_dir, counts=counts)
        with workers:
            progress.phase = "warm-up"
            on_progress(progress)
            _warm_up(settings, workers)
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
            with psycopg.connect(settings.dsn, autocommit=True) as conn:
                while True:
                    row = conn.execute("SELECT count(*) FROM execution WHERE status IN "
                                       "('SUCCESS', 'FAILED', 'CANCELED') AND event_id IS NOT NULL "
                                       "AND created_at >= to_timestamp(%s)", (started,)).fetchone()
                    progress.finished = int(row[0]) if row else 0
                    on_progress(progress)
                    if failures:
                        raise RuntimeError(f"emitting failed: {failures[0]}") from failures[0]
                    if progress.finished >= config.events:
                        break
                    dead = workers.dead()
                    if dead:
                        raise RuntimeError(f"worker(s) exited: {', '.join(dead)}; see {log_dir}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{progress.finished} of {config.events} executions finished "
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
            _cleanup(base, settings, name)
    return report


def _warm_up(settings: Settings, workers: Any) -> None:
    """One event through the whole pipeline: every consumer has joined its group and loaded its state."""
    from automate.events import emit_event

    event_id = emit_event("bench.tick", {"n": -1}, settings=settings)
    deadline = time.monotonic() + 120
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT status FROM execution WHERE event_id = %s", (event_id,)).fetchone()
            if row and row[0] == "SUCCESS":
                return
            dead = workers.dead()
            if dead:
                raise RuntimeError(f"worker(s) exited during warm-up: {', '.join(dead)}")
            time.sleep(0.2)
    raise TimeoutError("the warm-up event's execution did not finish within 120 s; see the worker logs")


def _report(settings: Settings, config: BenchConfig, emitted_at: dict[str, float], emit_seconds: float,
            limits: dict[str, float]) -> dict[str, Any]:
    with psycopg.connect(settings.dsn) as conn:
        rows = conn.execute(
            "SELECT e.event_id::text, e.status, extract(epoch FROM e.finished_at), "
            "extract(epoch FROM min(s.started_at)) FROM execution e "
            "LEFT JOIN step_run s ON s.execution_id = e.id WHERE e.event_id IS NOT NULL "
            "GROUP BY e.id").fetchall()
    by_status: dict[str, int] = {}
    first_step: list[float] = []
    end: list[float] = []
    last_end = 0.0
    for event_id, status, finished, first in rows:
        emitted = emitted_at.get(event_id)
        if emitted is None:  # the warm-up
            continue
        by_status[status] = by_status.get(status, 0) + 1
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
