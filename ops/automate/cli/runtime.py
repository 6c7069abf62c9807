"""``automate runtime``, ``automate retry-worker``, ``automate executions`` and ``automate dlq``."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from automate.cli.common import console, fail, settings_of, setup_logging

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

    setup_logging()
    run_processors(settings_of(ctx), group=group, metrics_port=metrics_port)


@click.command()
@click.option("--concurrency", default=1000, show_default=True,
              help="Messages handled at once (far above the partition count).")
@click.pass_context
def runtime(ctx: click.Context, concurrency: int) -> None:
    """Run workflow steps: consume automate.workflow.* in the runtime consumer group (run more to scale)."""
    from automate.runtime.worker import run_worker

    setup_logging()
    run_worker(settings_of(ctx), concurrency)


@click.command("retry-worker")
@click.pass_context
def retry_worker(ctx: click.Context) -> None:
    """Re-produce due retries and waits from the retry tiers to their workflow topics (never early)."""
    from automate.runtime.retry import run_retry_worker

    setup_logging()
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

    sql = ("SELECT e.id::text, a.slug, e.status, e.created_at, e.finished_at FROM execution e "
           "JOIN automation a ON a.id = e.automation_id "
           "WHERE (%(status)s::text IS NULL OR e.status = %(status)s) "
           "ORDER BY e.created_at DESC LIMIT %(limit)s")
    with connect(settings_of(ctx)) as conn:
        rows = conn.execute(sql, {"status": status, "limit": limit}).fetchall()
    table = Table("id", "workflow", "status", "created", "finished")
    for r in rows:
        table.add_row(r[0], r[1], r[2], str(r[3])[:19], str(r[4] or "")[:19])
    Console().print(table)


@executions.command("show")
@click.argument("execution_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def executions_show(ctx: click.Context, execution_id: str, as_json: bool) -> None:
    """An execution and each attempt of each of its steps."""
    from automate.db import connect

    with connect(settings_of(ctx)) as conn:
        row = conn.execute("SELECT id::text, status, context, error, created_at, started_at, finished_at "
                           "FROM execution WHERE id::text = %s", (execution_id,)).fetchone()
        if row is None:
            fail(f"no execution {execution_id}")
        steps = conn.execute("SELECT step_id, attempt, status, error_code, error_message, output "
                             "FROM step_run WHERE execution_id::text = %s ORDER BY started_at, attempt",
                             (execution_id,)).fetchall()
    data: dict[str, Any] = {
        "id": row[0], "status": row[1], "context": row[2], "error": row[3],
        "created_at": str(row[4]), "started_at": str(row[5]), "finished_at": str(row[6]),
        "steps": [{"step": s[0], "attempt": s[1], "status": s[2], "error_code": s[3],
                   "error_message": s[4], "output": s[5]} for s in steps],
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
    from psycopg.types.json import Jsonb

    from automate.db import connect
    from automate.db.queries import query

    with connect(settings_of(ctx)) as conn:
        cur = conn.execute(query("runtime", "cancel_execution"),
                           {"id": execution_id, "error": Jsonb({"code": "canceled", "message": "canceled"})})
        conn.commit()
    if cur.rowcount != 1:
        fail(f"execution {execution_id} is not pending or running")
    console.print(f"canceled {execution_id}")


@click.group()
def dlq() -> None:
    """Dead letters in automate.dlq: list, show, replay."""


def _dead_letters(settings: Any, timeout: float = 5.0) -> list[tuple[int, int, dict[str, Any]]]:
    import uuid

    from confluent_kafka import Consumer

    from automate.runtime.kafka_io import Records

    records = Records(settings)
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"dlq-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "log_level": 3})
    consumer.subscribe([settings.topic("dlq")])
    found: list[tuple[int, int, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    idle = 0
    try:
        while time.monotonic() < deadline and idle < 3:
            batch: list[Any] = consumer.consume(1000, 0.5)
            idle = idle + 1 if not batch else 0
            for msg in batch:
                if msg.error():
                    continue
                try:
                    _, record = records.decode(msg.value())
                except (ValueError, LookupError, EOFError):
                    continue
                found.append((msg.partition(), msg.offset(), record))
    finally:
        consumer.close()
    return found


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

    from automate.runtime.replay import replay

    try:
        step = asyncio.run(replay(settings_of(ctx), execution_id))
    except LookupError as exc:
        fail(str(exc))
    console.print(f"replaying {execution_id} from step {step}")
