"""``automate demo``: a realistic scenario on the local stack, every worker a process of its own.

The demo applies the workflows of ``examples/demo`` (tenant ``demo``), starts the pipeline's workers
through :class:`automate.supervise.WorkerSet` (processors, runtime workers, the retry worker, and the relay
when the outbox is published by it), sends one warm-up event through the whole pipeline, then emits a few
thousand ``order.created``, ``payment.received`` and ``user.signed_up`` events with ``emit_event``. From
the events it emitted and the workflows' own rules it knows which executions must follow, how each must
end, how many step attempts must be retried and how many must end in the dead-letter topic; it shows their
progress live (read from Postgres twice a second), waits until every one has finished, and prints a
summary: events, executions by workflow and status, retries per tier, dead letters, throughput, latency.
The exit code is 0 only when everything happened as expected.

Only the demo's own rows are counted: its events' ids are kept in a temporary table, and the executions
it expects are named by id (``uuid5(event id, automation id)``, as the processors derive them).
"""

from __future__ import annotations

import math
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Final

import click
import psycopg
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from automate.bench import percentiles
from automate.cli.common import fail, settings_of
from automate.config import Settings, project_root
from automate.errors import AutomateError
from automate.runtime.workflows import WorkflowSpec

__all__ = ["DemoEvent", "WorkflowModel", "demo", "generate_events"]

DEFAULT_EVENTS: Final = 3000
DEFAULT_RATE: Final = 200.0
BATCH: Final = 20  # events per transaction at most
REFRESH_S: Final = 0.5
TERMINAL: Final = ("SUCCESS", "FAILED", "CANCELED")
XTS_EVERY: Final = 50  # one order in 50 is in XTS, the currency the demo's legacy ERP refuses


# --- the events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoEvent:
    type: str
    payload: dict[str, Any]


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))), 2)


def generate_events(count: int, seed: int, tag: str = "demo") -> list[DemoEvent]:
    """``count`` events, the same for the same ``seed``: about 50% ``order.created`` (half of them 100 or
    more; every 50th in the test currency XTS), 30% ``payment.received`` (15% without an order, 8% without
    an amount, a quarter of the others over 1000) and 20% ``user.signed_up``. ``tag`` goes into their ids."""
    rng = random.Random(seed)
    events: list[DemoEvent] = []
    orders = payments = users = 0
    for _ in range(count):
        draw = rng.random()
        if draw < 0.5:
            orders += 1
            xts = orders % XTS_EVERY == 0
            events.append(DemoEvent("order.created", {
                "order_id": f"ORD-{tag}-{orders:05d}",
                "amount": round(rng.uniform(100, 900), 2) if xts else _log_uniform(rng, 5, 2000),
                "customer_email": f"customer{rng.randrange(1, 5000)}@example.com",
                "currency": "XTS" if xts else rng.choice(("USD", "USD", "EUR", "GBP")),
                "priority": rng.choice((None, None, "normal", "high")),
            }))
        elif draw < 0.8:
            payments += 1
            order = None if rng.random() < 0.15 else f"ORD-{tag}-{rng.randrange(1, orders + 2):05d}"
            events.append(DemoEvent("payment.received", {
                "payment_id": f"PAY-{tag}-{payments:05d}",
                "order_id": order,
                "amount": None if rng.random() < 0.08 else _log_uniform(rng, 10, 5000),
            }))
        else:
            users += 1
            events.append(DemoEvent("user.signed_up", {
                "user_id": f"USR-{tag}-{users:05d}",
                "email": f"user{users}.{tag}@example.com",
                "plan": rng.choices(("free", "pro", "team"), weights=(6, 3, 1))[0],
                "country": rng.choice(("DE", "FR", "US", "JP", "BR")),
            }))
    return events


# --- what must happen -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one execution must end: its status, its retried attempts, its dead letters."""

    status: str
    retries: int
    dead_letters: int


class WorkflowModel:
    """What a workflow does with an event, worked out from its definition.

    An event matches when one trigger's pattern and rule hold. Then the ``core.fail`` steps decide the
    ending (the other built-ins succeed): walked in dependency order, a step whose ``when`` holds (judged
    on the event alone) fails ``times`` attempts (every attempt without ``times``), and its retry policy
    decides whether the failures are retried or end the execution and go to the dead-letter topic. Steps
    after a failed one are not counted (the demo's workflows fail in their last step).
    """

    def __init__(self, spec: WorkflowSpec) -> None:
        from automate.rules import compile_rule
        from automate.runtime.workflows import topological_layers

        self.spec = spec
        self.slug: str = spec.slug
        self.triggers = [(t.event, compile_rule(t.rule) if t.rule is not None else None)
                         for t in spec.all_triggers]
        order = [spec.step(step_id) for layer in topological_layers(spec) for step_id in layer]
        self.failing = [(step, compile_rule(step.when) if step.when is not None else None)
                        for step in order if step.action == "core.fail"]

    def describe_trigger(self) -> str:
        parts = [pattern + (" + rule" if rule is not None else "") for pattern, rule in self.triggers]
        return ", ".join(parts) or "none"

    def matches(self, event_type: str, payload: dict[str, Any], event_id: str, tenant: str) -> bool:
        for pattern, rule in self.triggers:
            if not fnmatchcase(event_type, pattern):
                continue
            if rule is None:
                return True
            data = {**payload, "$event": {"id": event_id, "type": event_type, "tenant": tenant}}
            try:
                if rule.evaluate(data):
                    return True
            except Exception:  # the processors treat a rule failing on an event as no match
                continue
        return False

    def outcome(self, payload: dict[str, Any], event_id: str, tenant: str) -> Outcome:
        scope = {"event": {"id": event_id, "payload": payload},
                 "execution": {"id": None, "context": payload, "tenant": tenant}, "steps": {}}
        retries = 0
        for step, when in self.failing:
            try:
                if when is not None and not when.evaluate(scope):
                    continue
            except Exception:
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


# --- emitting -------------------------------------------------------------------------------------------


@dataclass
class _Emission:
    """Filled by the emitting thread: (event id, type, payload index, emit time) per event."""

    done: list[tuple[str, str, int, float]] = field(default_factory=list)
    failure: BaseException | None = None
    finished: bool = False
    stop: threading.Event = field(default_factory=threading.Event)


def _emit_all(settings: Settings, tenant: str, events: list[DemoEvent], rate: float, out: _Emission) -> None:
    from automate.events import emit_event

    try:
        with psycopg.connect(settings.dsn) as conn:
            began = time.perf_counter()
            i = 0
            while i < len(events) and not out.stop.is_set():
                size = min(BATCH, len(events) - i)
                if rate > 0:
                    due = began + i / rate
                    while (now := time.perf_counter()) < due:
                        time.sleep(min(0.005, due - now))
                    # At a target rate each transaction holds what is due by now.
                    size = max(1, min(size, int((time.perf_counter() - began) * rate) - i + 1))
                batch = events[i:i + size]
                ids = [emit_event(e.type, e.payload, tenant=tenant, connection=conn, settings=settings)
                       for e in batch]
                stamp = time.time()
                conn.commit()
                out.done.extend((ident, e.type, i + k, stamp)
                                for k, (ident, e) in enumerate(zip(ids, batch, strict=True)))
                i += size
    except BaseException as exc:  # reported by the command
        out.failure = exc
    finally:
        out.finished = True


# --- watching -------------------------------------------------------------------------------------------


class _Tracker:
    """The demo's own view of Postgres: its events and expected executions in temporary tables."""

    def __init__(self, settings: Settings, models: list[WorkflowModel], automation_ids: dict[str, str],
                 events: list[DemoEvent], tenant: str) -> None:
        self.conn = psycopg.connect(settings.dsn, autocommit=True)
        self.models = models
        self.automation_ids = automation_ids
        self.events = events
        self.tenant = tenant
        self.synced = 0
        self.expected: dict[str, tuple[str, Outcome]] = {}  # execution id -> (slug, outcome)
        self.conn.execute("CREATE TEMP TABLE demo_event (id uuid PRIMARY KEY, type text NOT NULL)")
        self.conn.execute("CREATE TEMP TABLE demo_expected (id uuid PRIMARY KEY, event_id uuid NOT NULL, "
                          "slug text NOT NULL)")

    def close(self) -> None:
        self.conn.close()

    def sync(self, emitted: list[tuple[str, str, int, float]]) -> None:
        """Record the events emitted since the last call and the executions they must start."""
        from automate.ids import execution_id

        new = emitted[self.synced:]
        if not new:
            return
        expected_rows: list[tuple[str, str, str]] = []
        for event_id, event_type, index, _stamp in new:
            payload = self.events[index].payload
            for model in self.models:
                if model.matches(event_type, payload, event_id, self.tenant):
                    ident = execution_id(event_id, self.automation_ids[model.slug])
                    self.expected[ident] = (model.slug, model.outcome(payload, event_id, self.tenant))
                    expected_rows.append((ident, event_id, model.slug))
        with self.conn.cursor() as cur:
            with cur.copy("COPY demo_event (id, type) FROM STDIN") as copy:
                for event_id, event_type, _index, _stamp in new:
                    copy.write_row((event_id, event_type))
            if expected_rows:
                with cur.copy("COPY demo_expected (id, event_id, slug) FROM STDIN") as copy:
                    for row in expected_rows:
                        copy.write_row(row)
        self.synced += len(new)

    def status_counts(self) -> dict[str, Counter[str]]:
        """Per workflow, the expected executions by status (MISSING: not created yet)."""
        rows = self.conn.execute(
            "SELECT x.slug, coalesce(e.status, 'MISSING'), count(*) FROM demo_expected x "
            "LEFT JOIN execution e ON e.id = x.id GROUP BY 1, 2").fetchall()
        counts: dict[str, Counter[str]] = {m.slug: Counter() for m in self.models}
        for slug, status, n in rows:
            counts[str(slug)][str(status)] = int(n)
        return counts

    def retries(self) -> Counter[str]:
        rows = self.conn.execute(
            "SELECT x.slug, count(*) FROM demo_expected x JOIN step_run s ON s.execution_id = x.id "
            "WHERE s.attempt > 1 GROUP BY 1").fetchall()
        return Counter({str(slug): int(n) for slug, n in rows})

    def retries_by_step(self) -> list[tuple[str, str, int]]:
        rows = self.conn.execute(
            "SELECT x.slug, s.step_id, count(*) FROM demo_expected x "
            "JOIN step_run s ON s.execution_id = x.id "
            "WHERE s.attempt > 1 GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        return [(str(slug), str(step), int(n)) for slug, step, n in rows]

    def unexpected(self) -> int:
        """Executions of the demo's events that no rule called for."""
        row = self.conn.execute(
            "SELECT count(*) FROM execution e JOIN demo_event d ON d.id = e.event_id "
            "WHERE e.automation_id = ANY(%s::uuid[]) AND NOT EXISTS "
            "(SELECT 1 FROM demo_expected x WHERE x.id = e.id)",
            (list(self.automation_ids.values()),)).fetchone()
        return int(row[0]) if row else 0

    def finished_rows(self) -> list[tuple[str, str | None, str, float | None, float | None]]:
        """(execution id, status, event id, first step start, end) of each expected execution (epochs)."""
        rows = self.conn.execute(
            "SELECT x.id::text, e.status, x.event_id::text, "
            "(SELECT extract(epoch FROM min(s.started_at))::float8 FROM step_run s "
            " WHERE s.execution_id = x.id), "
            "extract(epoch FROM e.finished_at)::float8 "
            "FROM demo_expected x LEFT JOIN execution e ON e.id = x.id").fetchall()
        return [(str(r[0]), r[1], str(r[2]), r[3], r[4]) for r in rows]

    def step_retries_of(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT x.id::text, count(*) FROM demo_expected x JOIN step_run s ON s.execution_id = x.id "
            "WHERE s.attempt > 1 GROUP BY 1").fetchall()
        return {str(i): int(n) for i, n in rows}


# --- Kafka: what the run added to the retry tiers and the dead-letter topic --------------------------------


def _watermarks(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """The high watermark (next offset) of every partition of ``topics``."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "log_level": 3,
                         "group.id": f"automate-demo-{uuid.uuid4().hex}", "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(timeout=10)
        marks: dict[tuple[str, int], int] = {}
        for topic in topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                continue
            for partition in found.partitions:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                marks[(topic, partition)] = int(high)
        return marks
    finally:
        consumer.close()


def _records_between(settings: Settings, before: dict[tuple[str, int], int],
                     after: dict[tuple[str, int], int],
                     timeout: float = 30.0) -> list[tuple[str, dict[str, Any]]]:
    """The records added to each partition between two watermark readings, decoded: (topic, record)."""
    from confluent_kafka import Consumer, TopicPartition

    from automate.records import Records

    ranges = {tp: (before.get(tp, 0), end) for tp, end in after.items() if end > before.get(tp, 0)}
    if not ranges:
        return []
    records = Records(settings)
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "log_level": 3,
                         "group.id": f"automate-demo-{uuid.uuid4().hex}", "enable.auto.commit": False})
    found: list[tuple[str, dict[str, Any]]] = []
    try:
        consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _end) in ranges.items()])
        remaining = {tp: end for tp, (_start, end) in ranges.items()}
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            batch: list[Any] = consumer.consume(1000, 0.5)
            for msg in batch:
                if msg.error():
                    continue
                topic = str(msg.topic())
                tp = (topic, int(msg.partition()))
                offset = int(msg.offset())
                end = remaining.get(tp)
                if end is None or offset >= end:
                    continue
                if offset == end - 1:
                    del remaining[tp]
                try:
                    _name, record = records.decode(msg.value() or b"")
                except (ValueError, LookupError, EOFError):
                    continue
                found.append((topic, record))
    finally:
        consumer.close()
    return found


# --- numbers --------------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f} ms"


# --- the command ----------------------------------------------------------------------------------------


def _console(stderr: bool) -> Console:
    """A console of the demo's: 120 columns when writing to a file or a pipe (a CI log), not rich's 80."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, highlight=False, width=120 if wide else None)


console = _console(stderr=True)  # progress and messages; the summary goes to stdout


@dataclass
class _View:
    """What the live display shows."""

    phase: str = "starting"
    emitted: int = 0
    events: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)
    expected_total: int = 0


def _render(view: _View, progress: Progress, tasks: dict[str, Any],
            models: list[WorkflowModel]) -> RenderableType:
    finished = sum(sum(c[s] for s in TERMINAL) for c in view.counts.values())
    progress.update(tasks["emitted"], completed=view.emitted, total=view.events)
    progress.update(tasks["finished"], completed=finished, total=max(view.expected_total, 1))
    wide = console.width >= 110  # the trigger column only where it fits
    table = Table("workflow", *(["trigger"] if wide else []), "expected", "created", "running", "succeeded",
                  "failed", "retries", title=f"[bold]{view.phase}[/]", title_justify="left")
    for model in models:
        c = view.counts.get(model.slug, Counter())
        created = sum(n for status, n in c.items() if status != "MISSING")
        trigger = [model.describe_trigger()] if wide else []
        table.add_row(model.slug, *trigger, str(view.expected[model.slug]), str(created),
                      str(c["RUNNING"] + c["PENDING"]), f"[green]{c['SUCCESS']}[/]", f"[red]{c['FAILED']}[/]",
                      str(view.retries[model.slug]))
    return Group(progress, table)


def _default_workflows() -> Path | None:
    root = project_root()
    return root / "examples" / "demo" if root is not None else None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _preflight(settings: Settings) -> None:
    """One line naming the fix when the stack is not up or not migrated."""
    from automate.db import current_publisher

    try:
        with psycopg.connect(settings.dsn, connect_timeout=5) as conn:
            row = conn.execute("SELECT to_regclass('public.execution') IS NOT NULL").fetchone()
            if not row or not row[0]:
                fail("the database has no schema yet; run `automate migrate`")
            bound = current_publisher(conn)
    except psycopg.OperationalError as exc:
        fail(f"cannot reach the database ({_first_line(exc)}); is the stack up? run `automate up`")
    if bound != settings.publisher:
        fail(f"the outbox is bound to publisher {bound or 'none'}, the settings say {settings.publisher}; "
             "run `automate migrate`")
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 0}).list_topics(timeout=5)
    except KafkaException:
        fail(f"cannot reach Kafka at {settings.bootstrap_servers}; is the stack up? run `automate up`")
    if settings.publisher == "debezium":
        _wait_for_connector(settings)


def _wait_for_connector(settings: Settings, timeout: float = 60.0) -> None:
    """The Debezium connector and its task running, its replication slot in use: an event written before
    the slot streams would never be published (a connector registered by the `automate migrate` just
    before takes a few seconds to get there)."""
    from automate.stack.cdc import connector_config, outbox_connector_status

    slot = connector_config(settings)["slot.name"]
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = outbox_connector_status(settings)
        except AutomateError as exc:
            fail(f"cannot reach Kafka Connect ({_first_line(exc)}); is the stack up? run `automate up`")
        if status is None:
            fail("the Debezium outbox connector is not registered; run `automate migrate`")
        states = [status.get("connector", {}).get("state")]
        states += [t.get("state") for t in status.get("tasks", [])]
        if "FAILED" in states:
            fail("the Debezium outbox connector has failed; run `automate migrate` (it restarts it) and see "
                 "`automate logs connect`")
        running = len(states) > 1 and all(state == "RUNNING" for state in states)
        with psycopg.connect(settings.dsn, autocommit=True) as conn:
            row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                               (slot,)).fetchone()
        if running and row is not None and row[0]:
            return
        if time.monotonic() > deadline:
            active = "active" if row is not None and row[0] else "not active"
            fail(f"the Debezium outbox connector is not streaming after {timeout:.0f}s (states "
                 f"{', '.join(map(str, states))}, slot {slot} {active}); see `automate logs connect`")
        time.sleep(1.0)


def _load_workflows(directory: Path) -> list[WorkflowSpec]:
    from automate.runtime.actions import registry
    from automate.runtime.errors import WorkflowValidationError
    from automate.runtime.workflows import definition_files, read_definition, validate

    files = definition_files(directory) if directory.is_dir() else []
    if not files:
        fail(f"no workflow files (.yaml, .yml, .json) in {directory}")
    specs: list[WorkflowSpec] = []
    for file in files:
        try:
            specs.append(validate(read_definition(file), registry.names()))
        except WorkflowValidationError as exc:
            path, message = exc.faults[0]
            fail(f"{file}: invalid ({path}: {message}); see `automate workflows apply -f {file}`")
    return specs


@click.command()
@click.option("--events", "count", default=DEFAULT_EVENTS, show_default=True,
              type=click.IntRange(1, 1_000_000), help="How many events to emit.")
@click.option("--rate", default=DEFAULT_RATE, show_default=True, type=click.FloatRange(0),
              help="Events per second to emit (0: as fast as possible).")
@click.option("--seed", default=7, show_default=True,
              help="Seed of the generated events (same seed, same events).")
@click.option("--timeout", "timeout_s", default=120.0, show_default=True, type=click.FloatRange(1),
              help="Seconds to wait, after the last event, for every execution to finish.")
@click.option("--processors", "processor_count", default=1, show_default=True, type=click.IntRange(1, 16),
              help="Processor worker processes.")
@click.option("--runtimes", "runtime_count", default=2, show_default=True, type=click.IntRange(1, 16),
              help="Runtime worker processes.")
@click.option("--workflows", "workflow_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The scenario's workflow files [default: examples/demo of the checkout].")
@click.pass_context
def demo(ctx: click.Context, count: int, rate: float, seed: int, timeout_s: float, processor_count: int,
         runtime_count: int, workflow_dir: Path | None) -> None:
    """Run a realistic scenario on the local stack and check that everything happened as it should.

    \b
    1. Applies the workflows of examples/demo (tenant `demo`):
       demo-big-orders  order.created with amount >= 100: fan-out/fan-in, a charge that times out
                        once and succeeds on retry (1 s retry tier), and for the ~2% of orders in
                        currency XTS a last step that exhausts its retries and ends in the DLQ;
       demo-payments    payment.received of an order and (amount > 1000 or without amount);
       demo-welcome     user.signed_up (glob trigger), with a `when` branch.
    2. Starts every worker as its own process: processors, runtime workers, the retry worker (and
       the relay when AUTOMATE_PUBLISHER=relay); their logs go to <AUTOMATE_HOME>/logs/demo.
    3. Sends one warm-up event through the pipeline, then emits --events events (order.created,
       payment.received, user.signed_up) at --rate with emit_event.
    4. Shows the progress live, waits until every execution the rules call for has finished, and
       prints a summary: events, executions per workflow and status, retries per tier, dead letters,
       throughput, and latency percentiles from emit to the first step and to the execution's end.

    Exits 0 when every execution ended as the workflows say it must (also the retry and dead-letter
    counts), 1 otherwise, 130 on Ctrl-C. Needs `automate up` and `automate migrate` first; stops its
    workers on exit.
    """
    settings = settings_of(ctx)
    directory = workflow_dir or _default_workflows()
    if directory is None:
        fail("no examples/demo folder next to this installation; pass --workflows DIR")
    specs = _load_workflows(directory)
    tenants = {spec.tenant or settings.tenant for spec in specs}
    if len(tenants) != 1:
        fail(f"the demo's workflows must share one tenant, not {', '.join(sorted(tenants))}")
    tenant = tenants.pop()
    _preflight(settings)
    signal.signal(signal.SIGTERM, _terminate)  # stop the workers as on Ctrl-C
    code = _run(settings, specs, tenant, count=count, rate=rate, seed=seed, timeout_s=timeout_s,
                counts={"relay": 1, "processors": processor_count, "runtime": runtime_count,
                        "retry-worker": 1})
    sys.exit(code)


def _terminate(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _apply(settings: Settings, specs: list[WorkflowSpec]) -> dict[str, str]:
    from automate.runtime.workflow_store import apply, get_workflow, set_enabled
    from automate.topics import core_topics, ensure_topics

    ids: dict[str, str] = {}
    try:
        ensure_topics(settings, core_topics(settings))
        with psycopg.connect(settings.dsn) as conn:
            for spec in specs:
                result = apply(conn, spec, settings)
                ids[spec.slug] = result.automation_id
                state = "applied as version" if result.created else "unchanged at version"
                console.print(f"  {result.tenant}/{result.slug}: {state} {result.version}")
                live = get_workflow(conn, result.slug, result.tenant)
                if live is not None and not live.automation.enabled:
                    set_enabled(conn, result.slug, result.tenant, True)
                    console.print(f"  {result.tenant}/{result.slug}: was disabled, enabled it")
    except psycopg.Error as exc:
        fail(f"cannot apply the demo's workflows ({_first_line(exc)})")
    except AutomateError as exc:
        fail(str(exc))
    return ids


def _warm_up(settings: Settings, tenant: str, models: list[WorkflowModel], automation_ids: dict[str, str],
             workers: Any, refresh: Any, timeout: float = 120.0) -> None:
    """Sign-ups through the whole pipeline (publisher, processors, runtime) until one has finished: the
    workers are then in their consumer groups and have loaded the workflows. Not counted in the numbers;
    sent again every 15 s while none gets through."""
    from automate.events import emit_event
    from automate.ids import execution_id

    payload = {"user_id": "warm-up", "email": "warm-up@example.com", "plan": "free", "warm_up": True}
    probe = str(uuid.uuid4())
    welcome = next((m for m in models if m.matches("user.signed_up", payload, probe, tenant)), None)
    if welcome is None:
        return
    deadline = time.monotonic() + timeout
    sent: list[str] = []
    next_send = 0.0
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if time.monotonic() >= next_send:
                event_id = emit_event("user.signed_up", payload, tenant=tenant, settings=settings)
                sent.append(execution_id(event_id, automation_ids[welcome.slug]))
                next_send = time.monotonic() + 15.0
            row = conn.execute("SELECT count(*) FROM execution WHERE id = ANY(%s::uuid[]) "
                               "AND status = ANY(%s)", (sent, list(TERMINAL))).fetchone()
            if row is not None and row[0]:
                return
            dead = workers.dead()
            if dead:
                raise _DemoFailure(f"worker(s) exited during the warm-up: {', '.join(dead)}; "
                                   f"see their logs in {workers.log_dir}")
            refresh()
            time.sleep(0.2)
    hint = " and `automate logs connect`" if settings.publisher == "debezium" else ""
    raise _DemoFailure(f"no warm-up event got through the pipeline within {timeout:.0f}s (no finished "
                       f"{welcome.slug} execution); see the worker logs in {workers.log_dir}{hint}")


class _DemoFailure(Exception):
    """The scenario could not run to its end (the message says why)."""


def _plan(models: list[WorkflowModel], events: list[DemoEvent], tenant: str) -> Counter[str]:
    """Executions per workflow the events call for (the rules read the payload, not the event's id)."""
    probe = str(uuid.uuid4())
    return Counter(m.slug for e in events for m in models if m.matches(e.type, e.payload, probe, tenant))


def _run(settings: Settings, specs: list[WorkflowSpec], tenant: str, *, count: int, rate: float, seed: int,
         timeout_s: float, counts: dict[str, int]) -> int:
    from confluent_kafka import KafkaException

    from automate.supervise import WorkerSet

    models = [WorkflowModel(spec) for spec in specs]
    events = generate_events(count, seed, tag=uuid.uuid4().hex[:6])
    log_dir = settings.home / "logs" / "demo"
    workers = WorkerSet(settings, log_dir=log_dir, counts=counts)
    kinds = ", ".join(f"{kind} x{counts.get(kind, 1)}" for kind in workers.kinds())
    console.print(f"[bold]automate demo[/]: {count} events (seed {seed}) "
                  f"{'at ' + format(rate, 'g') + '/s' if rate else 'as fast as possible'} for tenant "
                  f"[cyan]{tenant}[/], {len(models)} workflows, publisher {settings.publisher}")
    console.print("applying the workflows")
    automation_ids = _apply(settings, specs)
    planned = _plan(models, events, tenant)
    console.print(f"starting the workers, each its own process: {kinds} (logs in {log_dir})")

    view = _View(events=count, expected=planned, expected_total=sum(planned.values()))
    progress = Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)
    tasks = {"emitted": progress.add_task("events emitted", total=count, start=False),
             "finished": progress.add_task("executions finished", total=max(view.expected_total, 1),
                                           start=False)}
    emission = _Emission()
    tracker: _Tracker | None = None
    problems: list[str] = []
    report: dict[str, Any] = {}
    workers.start()
    try:
        live = Live(_render(view, progress, tasks, models), console=console, refresh_per_second=4)
        try:
            with live:
                def refresh() -> None:
                    live.update(_render(view, progress, tasks, models))

                view.phase = "warming up: one event through the pipeline while the workers join their groups"
                refresh()
                _warm_up(settings, tenant, models, automation_ids, workers, refresh)
                tracker = _Tracker(settings, models, automation_ids, events, tenant)
                before = _watermarks(settings, _watched(settings))
                view.phase = "emitting events"
                for task in tasks.values():
                    progress.start_task(task)
                threading.Thread(target=_emit_all, args=(settings, tenant, events, rate, emission),
                                 name="automate-demo-emit", daemon=True).start()
                _follow(view, tracker, emission, workers, refresh, timeout_s)
                refresh()
        finally:
            if not console.is_terminal:
                console.line()  # the last frame of a live display, printed once, ends without one
        after = _watermarks(settings, _watched(settings))
        report = _collect(settings, tracker, emission, before, after)
    except KeyboardInterrupt:
        emission.stop.set()
        console.print("[yellow]interrupted[/]: stopping the workers")
        workers.stop()
        if tracker is not None:
            tracker.close()
        return 130
    except _DemoFailure as exc:
        problems.append(str(exc))
    except (psycopg.Error, AutomateError, KafkaException) as exc:
        problems.append(f"{type(exc).__name__}: {_first_line(exc)}")
    finally:
        emission.stop.set()
        if workers.procs and any(p.poll() is None for procs in workers.procs.values() for p in procs):
            console.print("stopping the workers")
            workers.stop()
    try:
        if report and tracker is not None:
            problems.extend(_summarize(report, models, tracker, settings))
    finally:
        if tracker is not None:
            tracker.close()
    out = _console(stderr=False)
    if problems:
        if not report:
            console.print(f"[bold red]error:[/] {problems[0]}", soft_wrap=True)
            return 1
        out.print("[bold red]demo FAILED[/]: " + "; ".join(problems), soft_wrap=True)
        return 1
    out.print(f"[bold green]demo passed[/]: {report['finished']} executions ended as the workflows say, "
              f"{report['retries']} retried attempts, {report['dead_letters']} dead letters")
    return 0


def _watched(settings: Settings) -> list[str]:
    from automate.topics import RETRY_TIER_NAMES

    return [settings.topic("dlq"), *(settings.topic(f"retry.{t}") for t in RETRY_TIER_NAMES)]


def _follow(view: _View, tracker: _Tracker, emission: _Emission, workers: Any, refresh: Any,
            timeout_s: float) -> None:
    """Refresh the view from Postgres until every expected execution has finished (or fail)."""
    deadline: float | None = None
    while True:
        tracker.sync(emission.done)
        view.emitted = tracker.synced
        view.counts = tracker.status_counts()
        view.retries = tracker.retries()
        refresh()
        if emission.failure is not None:
            raise _DemoFailure(f"emitting failed: {type(emission.failure).__name__}: "
                               f"{_first_line(emission.failure)}")
        dead = workers.dead()
        if dead:
            raise _DemoFailure(f"worker(s) exited: {', '.join(dead)}; see their logs in {workers.log_dir}")
        if emission.finished and tracker.synced == len(emission.done):
            if deadline is None:
                deadline = time.monotonic() + timeout_s
                view.phase = "waiting for the last executions"
            unfinished = sum(n for c in view.counts.values() for s, n in c.items() if s not in TERMINAL)
            if unfinished == 0:
                view.phase = "done: every expected execution has finished"
                return
            if time.monotonic() > deadline:
                missing = []
                for slug, c in view.counts.items():
                    parts = [f"{c[s]} {'not created' if s == 'MISSING' else s}"
                             for s in ("MISSING", "PENDING", "RUNNING") if c[s]]
                    if parts:
                        missing.append(f"{slug}: {', '.join(parts)}")
                raise _DemoFailure(f"not finished within {timeout_s:g}s after the last event: "
                                   f"{'; '.join(missing)}; see the worker logs in {workers.log_dir}")
        time.sleep(REFRESH_S)


def _collect(settings: Settings, tracker: _Tracker, emission: _Emission, before: dict[tuple[str, int], int],
             after: dict[tuple[str, int], int]) -> dict[str, Any]:
    """The run's numbers, read once everything has finished."""
    emitted_at = {event_id: stamp for event_id, _type, _index, stamp in emission.done}
    first_step: list[float] = []
    end: list[float] = []
    statuses: dict[str, Counter[str]] = {m.slug: Counter() for m in tracker.models}
    wrong: list[str] = []
    last_end = 0.0
    retried = tracker.step_retries_of()
    retries_wrong = 0
    for ident, status, event_id, first, finished in tracker.finished_rows():
        slug, expected = tracker.expected[ident]
        statuses[slug][status or "MISSING"] += 1
        if status != expected.status:
            wrong.append(f"{slug} {ident}: {status or 'not created'}, expected {expected.status}")
        if retried.get(ident, 0) != expected.retries:
            retries_wrong += 1
        stamp = emitted_at.get(event_id)
        if stamp is None:
            continue
        if first is not None:
            first_step.append((float(first) - stamp) * 1000)
        if finished is not None:
            end.append((float(finished) - stamp) * 1000)
            last_end = max(last_end, float(finished))
    ours = set(tracker.expected)
    tiers: Counter[str] = Counter()
    tiers_all: Counter[str] = Counter()
    letters: Counter[str] = Counter()
    for (topic, _partition), high in after.items():
        tiers_all[topic] += high - before.get((topic, _partition), 0)
    for topic, record in _records_between(settings, before, after):
        if str(record.get("execution_id")) not in ours:
            continue
        if topic == settings.topic("dlq"):
            letters[f"{record.get('workflow_slug')}/{record.get('step_id')}: {record.get('error_code')}"] += 1
        else:
            tiers[topic] += 1
    stamps = [stamp for *_rest, stamp in emission.done]
    by_step = tracker.retries_by_step()
    emit_seconds = max(stamps) - min(stamps) if len(stamps) > 1 else 0.0
    finished_count = sum(c[s] for c in statuses.values() for s in TERMINAL)
    return {
        "events": Counter(event_type for _id, event_type, _index, _stamp in emission.done),
        "statuses": statuses,
        "wrong": wrong,
        "retries_wrong": retries_wrong,
        "retries_by_step": by_step,
        "retries": sum(n for _slug, _step, n in by_step),
        "tiers": tiers,
        "tiers_all": tiers_all,
        "letters": letters,
        "dead_letters": sum(letters.values()),
        "unexpected": tracker.unexpected(),
        "emit_seconds": emit_seconds,
        "finished": finished_count,
        "run_seconds": (last_end - min(stamps)) if last_end and stamps else math.nan,
        "latency_first_step": percentiles(first_step, 6),
        "latency_end": percentiles(end, 6),
    }


def _summarize(report: dict[str, Any], models: list[WorkflowModel], tracker: _Tracker,
               settings: Settings) -> list[str]:
    """Print the summary tables (stdout); returns what differs from the expectation."""
    out = _console(stderr=False)
    problems: list[str] = []
    expected_outcomes: dict[str, Counter[str]] = {m.slug: Counter() for m in models}
    expected_retries: Counter[str] = Counter()
    expected_letters = 0
    for slug, outcome in tracker.expected.values():
        expected_outcomes[slug][outcome.status] += 1
        expected_retries[slug] += outcome.retries
        expected_letters += outcome.dead_letters

    events = Table("event type", "emitted", title="Events", title_justify="left")
    triggered: Counter[str] = Counter()
    for event_type, n in sorted(report["events"].items()):
        events.add_row(event_type, str(n))
        triggered[event_type] = n
    events.add_row("[bold]total[/]", f"[bold]{sum(report['events'].values())}[/]")
    out.print(events)

    executions = Table("workflow", "expected", "succeeded", "failed", "not finished", "retries",
                       "as expected", title="Executions", title_justify="left")
    retried: Counter[str] = Counter()
    for slug, _step, n in report["retries_by_step"]:
        retried[slug] += n
    for model in models:
        got = report["statuses"][model.slug]
        want = expected_outcomes[model.slug]
        unfinished = sum(n for s, n in got.items() if s not in ("SUCCESS", "FAILED"))
        ok = (got["SUCCESS"] == want["SUCCESS"] and got["FAILED"] == want["FAILED"] and unfinished == 0
              and retried[model.slug] == expected_retries[model.slug])
        verdict = "[green]yes[/]" if ok else (
            f"[red]no[/]: expected {want['SUCCESS']} succeeded, {want['FAILED']} failed, "
            f"{expected_retries[model.slug]} retries")
        executions.add_row(model.slug, str(sum(want.values())), str(got["SUCCESS"]), str(got["FAILED"]),
                           str(unfinished), str(retried[model.slug]), verdict)
        if not ok:
            problems.append(f"{model.slug}: {got['SUCCESS']} succeeded, {got['FAILED']} failed, "
                            f"{unfinished} not finished, {retried[model.slug]} retries; expected "
                            f"{want['SUCCESS']}, {want['FAILED']}, 0, {expected_retries[model.slug]}")
    total = {s: sum(report["statuses"][m.slug][s] for m in models) for s in ("SUCCESS", "FAILED")}
    executions.add_row("[bold]total[/]", f"[bold]{len(tracker.expected)}[/]", f"[bold]{total['SUCCESS']}[/]",
                       f"[bold]{total['FAILED']}[/]",
                       f"[bold]{len(tracker.expected) - total['SUCCESS'] - total['FAILED']}[/]",
                       f"[bold]{sum(retried.values())}[/]", "")
    out.print(executions)
    if report["wrong"]:
        problems.append(f"{len(report['wrong'])} execution(s) ended otherwise than expected, e.g. "
                        f"{report['wrong'][0]}")
    if report["retries_wrong"]:
        problems.append(f"{report['retries_wrong']} execution(s) retried another number of times "
                        "than expected")
    if report["unexpected"]:
        problems.append(f"{report['unexpected']} execution(s) that no rule called for")

    retries = Table("retried step", "attempts after the first", title="Retries", title_justify="left")
    for slug, step, n in report["retries_by_step"]:
        retries.add_row(f"{slug}/{step}", str(n))
    if not report["retries_by_step"]:
        retries.add_row("-", "0")
    out.print(retries)
    tiers = Table("topic", "records of this run", "records added (all producers)",
                  title="Retry tiers and DLQ", title_justify="left")
    from automate.topics import RETRY_TIER_NAMES

    for tier in RETRY_TIER_NAMES:
        topic = settings.topic(f"retry.{tier}")
        tiers.add_row(topic, str(report["tiers"][topic]), str(report["tiers_all"][topic]))
    dlq = settings.topic("dlq")
    tiers.add_row(dlq, str(report["dead_letters"]), str(report["tiers_all"][dlq]))
    out.print(tiers)
    for what, n in sorted(report["letters"].items()):
        out.print(f"  dead letters: {n} x {what}")
    if report["dead_letters"] != expected_letters:
        problems.append(f"{report['dead_letters']} dead letter(s) of this run in {dlq}, "
                        f"expected {expected_letters}")
    through_tiers = sum(report["tiers"].values())
    if through_tiers != report["retries"]:
        problems.append(f"{through_tiers} retry record(s) of this run on the retry tiers for "
                        f"{report['retries']} retried attempts")

    speed = Table("throughput", "value", title="Throughput", title_justify="left")
    emitted = sum(report["events"].values())
    speed.add_row("events emitted per second",
                  f"{emitted / report['emit_seconds']:,.1f}" if report["emit_seconds"] > 0 else "-")
    run_seconds = report["run_seconds"]
    known = not math.isnan(run_seconds) and run_seconds > 0
    speed.add_row("executions finished per second",
                  f"{report['finished'] / run_seconds:,.1f}" if known else "-")
    speed.add_row("first emit to last execution end", f"{run_seconds:,.1f} s" if known else "-")
    out.print(speed)
    latency = Table("latency", "p50", "p95", "p99", "max", title="Latency", title_justify="left")
    for label, key in (("emit -> first step start", "latency_first_step"),
                       ("emit -> execution end", "latency_end")):
        p = report[key]
        latency.add_row(label, *(_ms(p[q]) for q in ("p50", "p95", "p99", "max")))
    out.print(latency)
    return problems
