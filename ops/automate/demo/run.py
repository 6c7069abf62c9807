"""One run of the demo, from applying its workflows to its summary."""

from __future__ import annotations

import threading
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from automate.config import Settings
from automate.demo.connectors import ConnectorPeers, check_peers, connector_peers, uses_connections
from automate.demo.events import DemoEvent, generate_events
from automate.demo.expectations import Expectations
from automate.demo.pipeline import Emission, apply_workflows, emit_all, follow, warm_up
from automate.demo.preflight import first_line
from automate.demo.report import collect, summarize
from automate.demo.tracker import Tracker
from automate.demo.view import View, console, make_console, render
from automate.errors import AutomateError, CheckFailed
from automate.records import Records
from automate.runtime.workflows import WorkflowSpec
from automate.supervise import WorkerSet
from automate.topics import RETRY_TIERS, dlq_topic, retry_topic
from automate.transport import KafkaException, high_watermarks

__all__ = ["run_demo"]


def run_demo(settings: Settings, specs: list[WorkflowSpec], tenant: str, *, count: int, rate: float,
             seed: int, timeout_s: float, counts: dict[str, int]) -> int:
    """Run the scenario; returns the exit code (0: everything as expected, 1: not, 130: interrupted)."""
    events = generate_events(count, seed, tag=uuid.uuid4().hex[:6])
    log_dir = settings.home / "logs" / "demo"
    workers = WorkerSet(settings, log_dir=log_dir, counts=counts)
    console.print(f"[bold]automate demo[/]: {count} events (seed {seed}) "
                  f"{'at ' + format(rate, 'g') + '/s' if rate else 'as fast as possible'} for tenant "
                  f"[cyan]{tenant}[/], {len(specs)} workflows, publisher {settings.publisher}")
    with ExitStack() as stack:
        peers = None
        if uses_connections(specs):
            console.print("starting the local peers of the connector workflow: SMTP and S3 (moto)")
            peers = stack.enter_context(connector_peers(settings, tenant, settings.home / "demo"))
        return _run(settings, specs, tenant, events, workers, log_dir, peers, rate=rate, timeout_s=timeout_s)


def _run(settings: Settings, specs: list[WorkflowSpec], tenant: str, events: list[DemoEvent],
         workers: WorkerSet, log_dir: Path, peers: ConnectorPeers | None, *, rate: float,
         timeout_s: float) -> int:
    count = len(events)
    kinds = ", ".join(f"{kind} x{workers.counts.get(kind, 1)}" for kind in workers.kinds())
    console.print("applying the workflows")
    try:
        ids, index = apply_workflows(settings, specs)
        expectations = Expectations(index, specs, tenant, ids)
    except psycopg.Error as exc:
        raise CheckFailed(f"cannot apply the demo's workflows ({first_line(exc)})") from None
    planned = expectations.plan(events, str(uuid.uuid4()))
    console.print(f"starting the workers, each its own process: {kinds} (logs in {log_dir})")

    view = View(events=count, expected=planned, expected_total=sum(planned.values()))
    progress = Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)
    tasks = {"emitted": progress.add_task("events emitted", total=count, start=False),
             "finished": progress.add_task("executions finished", total=max(view.expected_total, 1),
                                           start=False)}
    emission = Emission()
    tracker: Tracker | None = None
    problems: list[str] = []
    report: dict[str, Any] = {}
    watched = [dlq_topic(settings), *(retry_topic(settings, tier) for tier in RETRY_TIERS)]
    workers.start()
    try:
        live = Live(render(view, progress, tasks, expectations), console=console, refresh_per_second=4)
        try:
            with live:
                def refresh() -> None:
                    live.update(render(view, progress, tasks, expectations))

                view.phase = "warming up: one event through the pipeline while the workers join their groups"
                refresh()
                warm_up(settings, expectations, workers, refresh)
                tracker = Tracker(settings, expectations, events)
                before = high_watermarks(settings, watched)
                view.phase = "emitting events"
                for task in tasks.values():
                    progress.start_task(task)
                threading.Thread(target=emit_all, args=(settings, tenant, events, rate, emission),
                                 name="automate-demo-emit", daemon=True).start()
                follow(view, tracker, emission, workers, refresh, timeout_s)
                refresh()
        finally:
            if not console.is_terminal:
                console.line()  # the last frame of a live display, printed once, ends without one
        after = high_watermarks(settings, watched)
        report = collect(settings, Records.load(settings), tracker, emission.done, before, after)
    except KeyboardInterrupt:
        emission.stop.set()
        console.print("[yellow]interrupted[/]: stopping the workers")
        workers.stop()
        if tracker is not None:
            tracker.close()
        return 130
    except CheckFailed as exc:
        problems.append(str(exc))
    except (psycopg.Error, AutomateError, KafkaException) as exc:
        problems.append(f"{type(exc).__name__}: {first_line(exc)}")
    finally:
        emission.stop.set()
        if workers.procs and any(p.poll() is None for procs in workers.procs.values() for p in procs):
            console.print("stopping the workers")
            workers.stop()
    try:
        if report and tracker is not None:
            problems.extend(summarize(report, tracker, settings))
            if peers is not None:
                problems.extend(check_peers(peers, specs, tracker.expected))
    finally:
        if tracker is not None:
            tracker.close()
    out = make_console(stderr=False)
    if problems:
        if not report:
            console.print(f"[bold red]error:[/] {problems[0]}", soft_wrap=True)
            return 1
        out.print("[bold red]demo FAILED[/]: " + "; ".join(problems), soft_wrap=True)
        return 1
    out.print(f"[bold green]demo passed[/]: {report['finished']} executions ended as the workflows say, "
              f"{report['retries']} retried attempts, {report['dead_letters']} dead letters")
    return 0
