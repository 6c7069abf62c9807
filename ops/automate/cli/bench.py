"""``automate bench``: the end-to-end benchmark (see :mod:`automate.bench`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from automate.cli.common import fail, settings_of

__all__ = ["bench"]


@click.command()
@click.option("--events", default=20_000, show_default=True, help="Events to emit.")
@click.option("--rate", default=0.0, show_default=True, help="Target events/s (0: as fast as possible).")
@click.option("--batch", default=20, show_default=True, help="Events per emitting transaction.")
@click.option("--emitters", default=4, show_default=True,
              help="Connections emitting at once (each with its share of the events and the rate).")
@click.option("--processors", default=1, show_default=True, help="Processor worker processes.")
@click.option("--runtimes", default=1, show_default=True, help="Runtime worker processes.")
@click.option("--relays", default=1, show_default=True, help="Relay processes (with --publisher relay).")
@click.option("--publisher", type=click.Choice(["debezium", "relay"]), default=None,
              help="Who publishes the outbox (default: the settings' publisher, AUTOMATE_PUBLISHER).")
@click.option("--workflow", type=click.Choice(["noop", "realistic"]), default="noop", show_default=True,
              help="noop: three no-op steps. realistic: a templated payload, an http.request to a local "
                   "service, a when branch, one call in ten retried through the 1 s tier.")
@click.option("--latency-ms", default=3.0, show_default=True,
              help="How long the realistic workflow's HTTP service takes to answer.")
@click.option("--no-limits", is_flag=True, help="Skip measuring the raw Postgres and Kafka limits.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the executions.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON report to this file.")
@click.option("--keep", is_flag=True,
              help="Keep the benchmark's database and topics (and its Debezium connector and slot: a slot "
                   "holds WAL until it is removed) afterwards.")
@click.pass_context
def bench(ctx: click.Context, events: int, rate: float, batch: int, emitters: int, processors: int,
          runtimes: int, relays: int, publisher: str | None, workflow: str, latency_ms: float,
          no_limits: bool, timeout: float, report_file: Path | None, keep: bool) -> None:
    """Measure the whole pipeline: emit EVENTS events (`bench.tick`, each starting the --workflow) and time
    them through the outbox, the publisher (Debezium or the relay), processors and runtime to finished
    executions.

    Runs in a database and topics of its own (dropped afterwards, with its Debezium connector), every
    worker as its own process, and measures in the same run the machine's raw limits (Postgres single-row
    commits/s, Kafka produce and consume msgs/s). Prints a summary; --report writes it as JSON
    (events_per_s, latency_ms.first_step/end and hops_ms p50/p95/p99, executions by status, retries,
    cpu_s_per_1000_events, limits; see docs/pipeline.md).
    """
    from automate.bench import BenchConfig, run_bench
    from automate.bench import Progress as State

    if events <= 0 or batch <= 0 or emitters <= 0 or rate < 0 or latency_ms < 0:
        fail("--events, --batch and --emitters must be positive, --rate and --latency-ms zero or positive")
    settings = settings_of(ctx)
    config = BenchConfig(events=events, rate=rate, batch=batch, emitters=emitters, processors=processors,
                         runtimes=runtimes, relays=relays,
                         publisher="relay" if (publisher or settings.publisher) == "relay" else "debezium",
                         workflow="realistic" if workflow == "realistic" else "noop",
                         service_latency_ms=latency_ms, limits=not no_limits, timeout_s=timeout, keep=keep)
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        phase = bar.add_task("setup", total=None)
        emitted = bar.add_task("emitted", total=events)
        finished = bar.add_task("finished", total=events)

        def show(state: State) -> None:
            bar.update(phase, description=state.phase)
            bar.update(emitted, completed=state.emitted)
            bar.update(finished, completed=state.finished)

        try:
            report = run_bench(settings, config, settings.home / "logs" / "bench", show)
        except Exception as exc:  # one line; the worker logs are under .automate/logs/bench
            fail(f"benchmark failed: {exc}")
    _print(report)
    if report_file is not None:
        report_file.write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"report written to {report_file}")


def _percentiles(p: dict[str, float]) -> str:
    return f"p50 {p['p50']}  p95 {p['p95']}  p99 {p['p99']}  max {p['max']}"


def _print(report: dict[str, Any]) -> None:
    table = Table("measure", "value", title=f"automate bench ({report['publisher']}, {report['workflow']})")
    table.add_row("events", str(report["events"]))
    table.add_row("events/s (emit → finished)", str(report["events_per_s"]))
    table.add_row("emitted/s", str(report["emitted_per_s"]))
    for name in ("first_step", "end"):
        table.add_row(f"latency to {name.replace('_', ' ')} (ms)", _percentiles(report["latency_ms"][name]))
    for hop, p in report["hops_ms"].items():
        table.add_row(f"  hop {hop.replace('_', ' ')} (ms)", _percentiles(p))
    table.add_row("executions", json.dumps(report["executions"]))
    table.add_row("retries", json.dumps(report["retries"]))
    for process, seconds in report["cpu_s_per_1000_events"].items():
        table.add_row(f"  CPU s per 1,000 events: {process}", str(seconds))
    if "limits" in report:
        table.add_row("limits", json.dumps(report["limits"]))
        table.add_row("fraction of limit", json.dumps(report["fraction_of_limit"]))
    Console(width=max(Console().width, 120)).print(table)
