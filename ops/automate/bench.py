"""`automate bench`: the whole pipeline end to end, measured against the machine's own limits.

In a database and topics of its own (dropped afterwards), the benchmark publishes through Debezium or the
relay (``publisher``), applies a workflow triggered by ``bench.tick`` (``workflow``: three no-op steps, or
the realistic one of :mod:`automate.bench_workflows` calling an HTTP service the benchmark starts), starts
every worker as its own process (:class:`automate.supervise.WorkerSet`), emits N events (at a target rate,
or as fast as it can; ``batch`` events per transaction, as a service emitting several events per request
would) and waits until each event's execution has finished. The report (:mod:`automate.bench_report`)
gives events/s from the first emit to the last execution's end, the latency from emit to the first step's
start and to the execution's end, each hop's latency on the way (:mod:`automate.bench_hops`), executions
by status, retries, the CPU each process spent per 1,000 events and, measured in the same run, raw
Postgres single-row commits/s and raw Kafka produce/consume msgs/s (:mod:`automate.bench_limits`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from automate import transport
from automate.bench_hops import ArrivalClock, CpuSampler, stack_pids
from automate.bench_limits import measure_limits
from automate.bench_report import Observed, build_report, percentiles
from automate.bench_workflows import NOOP, BenchService, expected_retries, workflow
from automate.config import Settings
from automate.db import connect, dsn_of_database
from automate.db.admin import DatabaseAdmin
from automate.db.executions import ExecutionStore
from automate.errors import CheckFailed

__all__ = [
    "WORKFLOW", "BenchConfig", "Progress", "bench_settings", "cleanup", "fresh_database", "measure_limits",
    "percentiles", "prepare", "run_bench", "warm_up",
]

WORKFLOW = NOOP  # the no-op workflow (tests/bench/soak.py runs it too)


@dataclass(frozen=True)
class BenchConfig:
    events: int = 20_000
    rate: float = 0.0  # events/s; 0: as fast as possible
    batch: int = 20  # events per transaction
    emitters: int = 4  # connections emitting at once, as a service's concurrent requests would
    processors: int = 1
    runtimes: int = 1
    relays: int = 1  # with publisher relay
    publisher: Literal["debezium", "relay"] = "debezium"
    workflow: Literal["noop", "realistic"] = "noop"
    service_latency_ms: float = 3.0  # the realistic workflow's HTTP service's answer time
    limits: bool = True  # measure the machine's raw limits too (a few seconds)
    timeout_s: float = 600.0
    keep: bool = False

    def shares(self) -> list[int]:
        """The events each emitter emits."""
        return [self.events // self.emitters + (1 if me < self.events % self.emitters else 0)
                for me in range(self.emitters)]


@dataclass
class Progress:
    finished: int = 0
    phase: str = "setup"
    notes: list[str] = field(default_factory=list)
    by_emitter: list[int] = field(default_factory=list)  # events emitted by each emitter

    @property
    def emitted(self) -> int:
        return sum(self.by_emitter)


def bench_settings(base: Settings, name: str, prefix: str, *, publisher: str = "relay",
                   **overrides: Any) -> Settings:
    """``base`` pointed at database ``name`` and topics of ``prefix``, publishing through ``publisher``."""
    return Settings(**{**base.model_dump(), "database_url": dsn_of_database(base, name),
                       "publisher": publisher, "topic_prefix": prefix, **overrides})


def prepare(base: Settings, settings: Settings, name: str) -> None:
    """Create database ``name`` of ``settings`` (dropped first if it exists), migrated, bound to its
    publisher, its topics created; with Debezium, its connector registered and streaming."""
    from automate.db import migrate, set_publisher
    from automate.demo.preflight import wait_for_connector
    from automate.registry import register_contracts
    from automate.stack.cdc import ensure_outbox_connector
    from automate.topics import core_topics, ensure_topics

    with connect(base, autocommit=True) as conn:
        admin = DatabaseAdmin(conn)
        admin.drop(name)
        admin.create(name)
    with connect(settings) as conn:
        migrate(conn)
        set_publisher(conn, settings.publisher)
        register_contracts(settings, conn)
    ensure_topics(settings, core_topics(settings))
    if settings.publisher == "debezium":
        ensure_outbox_connector(settings)
        wait_for_connector(settings, timeout=120.0)


def fresh_database(base: Settings, name: str, prefix: str, *, publisher: str = "relay",
                   **overrides: Any) -> Settings:
    """Settings of a new database ``name`` publishing to topics of ``prefix`` (:func:`prepare`)."""
    settings = bench_settings(base, name, prefix, publisher=publisher, **overrides)
    prepare(base, settings, name)
    return settings


def cleanup(base: Settings, settings: Settings, name: str) -> None:
    """Remove what :func:`prepare` made: the Debezium connector and its slot first (a slot keeps its
    database from being dropped), the topics, the database."""
    with connect(base, autocommit=True) as conn:
        exists = DatabaseAdmin(conn).exists(name)
    if exists and settings.publisher == "debezium":
        from automate.stack.cdc import remove_outbox_connector

        remove_outbox_connector(settings)
    transport.delete_topics(settings, settings.topic_prefix + ".")
    with connect(base, autocommit=True) as conn:
        DatabaseAdmin(conn).drop(name)


def _emit(settings: Settings, config: BenchConfig, me: int, emitted_at: dict[str, float],
          progress: Progress, failures: list[BaseException]) -> None:
    """Emitter ``me`` of ``config.emitters``: its share of the events, at its share of the rate."""
    from automate.events import emit_event

    share = config.shares()[me]
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
    from automate.topics import events_topic, workflow_topic

    run = uuid.uuid4().hex[:8]
    name, prefix = f"automate_bench_{run}", f"bench{run}"
    progress = Progress()
    overrides = {"http_allowlist": ("127.0.0.1/32",)} if config.workflow == "realistic" else {}
    settings = bench_settings(base, name, prefix, publisher=config.publisher, **overrides)
    try:
        prepare(base, settings, name)
        limits: dict[str, float] = {}
        if config.limits:
            progress.phase = "limits"
            on_progress(progress)
            limits = measure_limits(settings)
        with _service(config) as service:
            definition = workflow(config.workflow, service.url if service else None)
            _apply(settings, definition)
            clock = ArrivalClock(settings, events_topic(settings),
                                 workflow_topic(settings, definition["slug"]))
            clock.start()
            try:
                seen = _run(settings, config, log_dir, progress, on_progress, clock, service)
                clock.settle(seen.emitted_at, [t.id for t in seen.timings if t.event_id in seen.emitted_at])
            finally:
                clock.stop()
            seen.arrived_events, seen.arrived_requests = clock.events, clock.requests
        seen.limits = limits
        progress.phase = "report"
        on_progress(progress)
        report = build_report(config, seen)
        report["installation"] = {"database": name, "topic_prefix": prefix, "kept": config.keep}
        return report
    finally:
        if not config.keep:
            cleanup(base, settings, name)


@contextlib.contextmanager
def _service(config: BenchConfig) -> Iterator[BenchService | None]:
    if config.workflow != "realistic":
        yield None
        return
    with BenchService(config.service_latency_ms) as service:
        yield service


def _apply(settings: Settings, definition: dict[str, Any]) -> None:
    """Apply the workflow and create its topic (the arrival clock reads it from the start)."""
    from automate.runtime.actions import registry
    from automate.runtime.workflows import validate
    from automate.runtime.workflows.store import apply
    from automate.topics import ensure_topics, workflow_topic

    with connect(settings) as conn:
        apply(conn, validate(definition, registry.names()), settings)
    ensure_topics(settings, [workflow_topic(settings, definition["slug"])])


def _run(settings: Settings, config: BenchConfig, log_dir: Path, progress: Progress,
         on_progress: Callable[[Progress], None], clock: ArrivalClock,
         service: BenchService | None) -> Observed:
    """Start the workers, warm up, emit, wait for every execution; what was seen."""
    from automate.supervise import WorkerSet

    counts = {"relay": config.relays, "processors": config.processors, "runtime": config.runtimes,
              "retry-worker": 1}
    workers = WorkerSet(settings, log_dir, counts=counts)
    with workers:
        progress.phase = "warm-up"
        on_progress(progress)
        warm_up(settings, workers)
        pids = {f"{kind}-{i}": proc.pid for kind, procs in workers.procs.items()
                for i, proc in enumerate(procs)}
        pids.update(stack_pids(settings, connect=config.publisher == "debezium"))
        if service is not None and service.pid is not None:
            pids["http-service"] = service.pid
        pids["bench (emit, watch)"] = os.getpid()
        cpu = CpuSampler(pids)
        emitted_at: dict[str, float] = {}
        failures: list[BaseException] = []
        progress.by_emitter = [0] * config.emitters
        emitters = [threading.Thread(target=_emit, args=(settings, config, me, emitted_at, progress,
                                                         failures), daemon=True)
                    for me in range(config.emitters)]
        progress.phase = "running"
        cpu.start()
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
                if clock.failure is not None:
                    raise CheckFailed(f"watching the topics failed: {clock.failure}") from clock.failure
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
            cpu.stop()
            timings = executions.event_timings()
            retried = executions.retried_attempts([t.id for t in timings])
        for emitter in emitters:
            emitter.join()
    emit_seconds = max(emitted_at.values()) - min(emitted_at.values()) if emitted_at else 0.0
    return Observed(
        emitted_at=emitted_at, emit_seconds=emit_seconds, timings=timings, retried=retried,
        expected_retries=expected_retries(config.shares()) if config.workflow == "realistic" else 0,
        service=service.stats() if service is not None else None,
        cpu_per_1000=cpu.per_1000(config.events), cpu_wall_s=cpu.wall_s)


def warm_up(settings: Settings, workers: Any) -> None:
    """One event through the whole pipeline: every consumer has joined its group and loaded its state."""
    from automate.events import emit_event

    event_id = emit_event("bench.tick", {"n": -1, "emitter": -1}, settings=settings)
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
