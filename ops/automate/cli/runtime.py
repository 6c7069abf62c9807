"""``automate runtime``, ``automate retry-worker``, ``automate executions`` and ``automate dlq``."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from automate.cli.common import console, fail, settings_of, setup_logging
from automate.errors import AutomateError

__all__ = ["dlq", "executions", "processors", "retry_worker", "runtime"]


@click.command()
@click.option("--group", default=None, help="Consumer group (default: <topic prefix>-processors); workers "
              "in one group share the partitions of automate.events.")
@click.option("--metrics-port", default=0, show_default=True,
              help="Port of this worker's /metrics (0: a free port, announced to the local Prometheus).")
@click.pass_context
def processors(ctx: click.Context, group: str | None, metrics_port: int) -> None:
    """Match events to automations: consume automate.events, evaluate the triggers' rules and produce one
    execution request per matching automation to automate.workflow.<slug>. Run more to scale out."""
    from automate.processors import run_processors

    setup_logging(settings_of(ctx).log_level)
    run_processors(settings_of(ctx), group=group, metrics_port=metrics_port)


@click.command()
@click.option("--concurrency", default=1000, show_default=True,
              help="Messages handled at once (far above the partition count).")
@click.pass_context
def runtime(ctx: click.Context, concurrency: int) -> None:
    """Run workflow steps: consume automate.workflow.* in the runtime consumer group (run more to scale)."""
    from automate.runtime.worker import run_worker

    setup_logging(settings_of(ctx).log_level)
    run_worker(settings_of(ctx), concurrency)


@click.command("retry-worker")
@click.pass_context
def retry_worker(ctx: click.Context) -> None:
    """Re-produce due retries and waits from the retry tiers to their workflow topics (never early)."""
    from automate.runtime.retry_worker import run_retry_worker

    setup_logging(settings_of(ctx).log_level)
    run_retry_worker(settings_of(ctx))


@click.group()
def executions() -> None:
    """Inspect and cancel executions."""


@executions.command("list")
@click.option("--status", type=click.Choice(["PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELED"]))
@click.option("--limit", default=20, show_default=True)
@click.pass_context
def executions_list(ctx: click.Context, status: str | None, limit: int) -> None:
    """The newest executions."""
    from automate.db import connect
    from automate.db.executions import ExecutionStore

    with connect(settings_of(ctx)) as conn:
        rows = ExecutionStore(conn).newest(status, limit)
    table = Table("id", "workflow", "status", "created", "finished")
    for ident, slug, state, created, finished in rows:
        table.add_row(ident, slug, state, str(created)[:19], str(finished or "")[:19])
    Console().print(table)


@executions.command("show")
@click.argument("execution_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def executions_show(ctx: click.Context, execution_id: str, as_json: bool) -> None:
    """An execution and each attempt of each of its steps."""
    from automate.db import connect
    from automate.db.executions import ExecutionStore

    try:
        with connect(settings_of(ctx)) as conn:
            store = ExecutionStore(conn)
            row = store.get(execution_id)
            if row is None:
                fail(f"no execution {execution_id}")
            steps = store.step_runs(execution_id)
    except AutomateError as exc:
        fail(str(exc))
    data: dict[str, Any] = {
        "id": row.id, "status": row.status, "context": row.context, "error": row.error,
        "created_at": str(row.created_at), "started_at": str(row.started_at),
        "finished_at": str(row.finished_at),
        "steps": [{"step": s.step_id, "attempt": s.attempt, "status": s.status, "error_code": s.error_code,
                   "error_message": s.error_message, "output": s.output} for s in steps],
    }
    if as_json:
        click.echo(json.dumps(data, default=str))
        return
    console.print(f"execution {data['id']}: [bold]{data['status']}[/]" +
                  (f" — {data['error']}" if data["error"] else ""))
    table = Table("step", "attempt", "status", "error")
    for s in data["steps"]:
        table.add_row(s["step"], str(s["attempt"]), s["status"], s["error_code"] or "")
    Console().print(table)


@executions.command("cancel")
@click.argument("execution_id")
@click.pass_context
def executions_cancel(ctx: click.Context, execution_id: str) -> None:
    """Cancel a pending or running execution: no further step starts."""
    from automate.db import connect
    from automate.db.executions import ExecutionStore

    try:
        with connect(settings_of(ctx)) as conn:
            canceled = ExecutionStore(conn).cancel(execution_id)
    except AutomateError as exc:
        fail(str(exc))
    if not canceled:
        fail(f"execution {execution_id} is not pending or running")
    console.print(f"canceled {execution_id}")


@click.group()
def dlq() -> None:
    """Dead letters in automate.dlq: list, show, replay."""


def _dead_letters(settings: Any) -> list[tuple[int, int, dict[str, Any]]]:
    from automate.dead_letters import read_dead_letters
    from automate.records import Records

    return read_dead_letters(settings, Records.load(settings))


@dlq.command("list")
@click.pass_context
def dlq_list(ctx: click.Context) -> None:
    """Every dead letter (reads the topic from the start)."""
    table = Table("partition:offset", "kind", "execution", "step", "error")
    for partition, offset, r in _dead_letters(settings_of(ctx)):
        table.add_row(f"{partition}:{offset}", r["kind"], r.get("execution_id") or "", r.get("step_id") or "",
                      f"{r['error_code']}: {r['error_message'][:60]}")
    Console().print(table)


@dlq.command("show")
@click.argument("execution_id")
@click.pass_context
def dlq_show(ctx: click.Context, execution_id: str) -> None:
    """The dead letters of one execution, as JSON."""
    found = [r for _, _, r in _dead_letters(settings_of(ctx)) if r.get("execution_id") == execution_id]
    if not found:
        fail(f"no dead letter for execution {execution_id}")
    for r in found:
        r.pop("original", None)
        click.echo(json.dumps(r, default=str))


@dlq.command("replay")
@click.argument("execution_id")
@click.pass_context
def dlq_replay(ctx: click.Context, execution_id: str) -> None:
    """Resume a failed execution at its failed step (the runtime workers pick it up)."""
    import asyncio

    from automate.dead_letters import replay

    try:
        step = asyncio.run(replay(settings_of(ctx), execution_id))
    except AutomateError as exc:
        fail(str(exc))
    console.print(f"replaying {execution_id} from step {step}")
