"""``automate runtime``, ``automate retry-worker``, ``automate executions`` and ``automate dlq``.

``executions`` and ``dlq`` see one tenant's executions and dead letters: ``--tenant``, else the settings'
tenant (``AUTOMATE_TENANT``); ``--all-tenants`` sees every tenant's (and the dead letters of records
that name none).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from automate.cli.common import METRICS_PORT, console, fail, settings_of, setup_logging
from automate.errors import AutomateError

__all__ = ["dlq", "executions", "processors", "retry_worker", "runtime"]


@click.command()
@click.option("--group", default=None, help="Consumer group (default: <topic prefix>-processors); workers "
              "in one group share the partitions of automate.events.")
@click.option("--engine", type=click.Choice(["confluent", "faust"]), default="confluent", show_default=True,
              help="What moves the records: confluent-kafka (the fastest), or a Faust agent "
                   "(needs automate[faust]); the same routing either way (docs/processors.md).")
@METRICS_PORT
@click.pass_context
def processors(ctx: click.Context, group: str | None, engine: str, metrics_port: int) -> None:
    """Match events to automations: consume automate.events, evaluate the triggers' rules and produce one
    execution request per matching automation to automate.workflow.<slug>. Run more to scale out."""
    setup_logging(settings_of(ctx).log_level)
    if engine == "faust":
        from automate.errors import AutomateError
        from automate.processors.faust_agent import run_faust_processors

        try:
            run_faust_processors(settings_of(ctx), group=group, metrics_port=metrics_port)
        except AutomateError as exc:
            fail(str(exc))
        return
    from automate.processors import run_processors

    run_processors(settings_of(ctx), group=group, metrics_port=metrics_port)


@click.command()
@click.option("--concurrency", default=1000, show_default=True,
              help="Messages handled at once (far above the partition count).")
@METRICS_PORT
@click.pass_context
def runtime(ctx: click.Context, concurrency: int, metrics_port: int) -> None:
    """Run workflow steps: consume automate.workflow.* in the runtime consumer group (run more to scale)."""
    from automate.runtime.worker import run_worker

    setup_logging(settings_of(ctx).log_level)
    run_worker(settings_of(ctx), concurrency, metrics_port)


@click.command("retry-worker")
@METRICS_PORT
@click.pass_context
def retry_worker(ctx: click.Context, metrics_port: int) -> None:
    """Re-produce due retries and waits from the retry tiers to their workflow topics (never early)."""
    from automate.runtime.retry_worker import run_retry_worker

    setup_logging(settings_of(ctx).log_level)
    run_retry_worker(settings_of(ctx), metrics_port)


def _tenant_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--tenant`` and ``--all-tenants``, the scope of a command over executions or dead letters."""
    command = click.option("--all-tenants", is_flag=True,
                           help="Every tenant's (default: one tenant's only).")(command)
    return click.option("--tenant", default=None,
                        help="The tenant whose executions and dead letters are seen (default: the "
                             "settings' tenant, AUTOMATE_TENANT).")(command)


def _scope_of(ctx: click.Context, tenant: str | None, all_tenants: bool) -> str | None:
    """The tenant a command is scoped to; None: every tenant."""
    if all_tenants and tenant is not None:
        fail("give --tenant or --all-tenants, not both")
    return None if all_tenants else tenant or settings_of(ctx).tenant


def _whose(scope: str | None) -> str:
    return "" if scope is None else f" of tenant {scope!r}"


@click.group()
def executions() -> None:
    """Inspect and cancel one tenant's executions (--tenant, the settings' tenant; --all-tenants)."""


@executions.command("list")
@click.option("--status", type=click.Choice(["PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELED"]))
@click.option("--limit", default=20, show_default=True)
@_tenant_options
@click.pass_context
def executions_list(ctx: click.Context, status: str | None, limit: int, tenant: str | None,
                    all_tenants: bool) -> None:
    """The newest executions of the tenant."""
    from automate.db import connect
    from automate.db.executions import ExecutionStore

    scope = _scope_of(ctx, tenant, all_tenants)
    with connect(settings_of(ctx)) as conn:
        rows = ExecutionStore(conn).newest(status, limit, scope)
    table = Table("id", "tenant", "workflow", "status", "created", "finished")
    for ident, slug, state, created, finished, owner in rows:
        table.add_row(ident, owner, slug, state, str(created)[:19], str(finished or "")[:19])
    Console().print(table)


@executions.command("show")
@click.argument("execution_id")
@click.option("--json", "as_json", is_flag=True)
@_tenant_options
@click.pass_context
def executions_show(ctx: click.Context, execution_id: str, as_json: bool, tenant: str | None,
                    all_tenants: bool) -> None:
    """An execution of the tenant and each attempt of each of its steps."""
    from automate.db import connect
    from automate.db.executions import ExecutionStore

    scope = _scope_of(ctx, tenant, all_tenants)
    try:
        with connect(settings_of(ctx)) as conn:
            store = ExecutionStore(conn)
            row = store.get(execution_id, scope)
            if row is None:
                fail(f"no execution {execution_id}{_whose(scope)}")
            steps = store.step_runs(execution_id)
    except AutomateError as exc:
        fail(str(exc))
    data: dict[str, Any] = {
        "id": row.id, "tenant": row.tenant, "status": row.status, "context": row.context, "error": row.error,
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
@_tenant_options
@click.pass_context
def executions_cancel(ctx: click.Context, execution_id: str, tenant: str | None, all_tenants: bool) -> None:
    """Cancel a pending or running execution of the tenant: no further step starts."""
    from automate.db import connect
    from automate.db.executions import ExecutionStore

    scope = _scope_of(ctx, tenant, all_tenants)
    try:
        with connect(settings_of(ctx)) as conn:
            canceled = ExecutionStore(conn).cancel(execution_id, scope)
    except AutomateError as exc:
        fail(str(exc))
    if not canceled:
        fail(f"execution {execution_id} is not a pending or running execution{_whose(scope)}")
    console.print(f"canceled {execution_id}")


@click.group()
def dlq() -> None:
    """One tenant's dead letters in automate.dlq (--tenant, the settings' tenant; --all-tenants): list,
    show, replay."""


def _dead_letters(settings: Any, scope: str | None) -> list[tuple[int, int, dict[str, Any]]]:
    """The letters of tenant ``scope`` (None: all, those of records naming no tenant included)."""
    from automate.dead_letters import read_dead_letters
    from automate.records import Records

    return [(p, o, r) for p, o, r in read_dead_letters(settings, Records.load(settings))
            if scope is None or r.get("tenant") == scope]


@dlq.command("list")
@_tenant_options
@click.pass_context
def dlq_list(ctx: click.Context, tenant: str | None, all_tenants: bool) -> None:
    """Every dead letter of the tenant (reads the topic from the start)."""
    scope = _scope_of(ctx, tenant, all_tenants)
    table = Table("partition:offset", "kind", "tenant", "execution", "step", "error")
    for partition, offset, r in _dead_letters(settings_of(ctx), scope):
        table.add_row(f"{partition}:{offset}", r["kind"], r.get("tenant") or "", r.get("execution_id") or "",
                      r.get("step_id") or "", f"{r['error_code']}: {r['error_message'][:60]}")
    Console().print(table)


@dlq.command("show")
@click.argument("execution_id")
@_tenant_options
@click.pass_context
def dlq_show(ctx: click.Context, execution_id: str, tenant: str | None, all_tenants: bool) -> None:
    """The dead letters of one execution of the tenant, as JSON."""
    scope = _scope_of(ctx, tenant, all_tenants)
    found = [r for _, _, r in _dead_letters(settings_of(ctx), scope) if r.get("execution_id") == execution_id]
    if not found:
        fail(f"no dead letter for execution {execution_id}{_whose(scope)}")
    for r in found:
        r.pop("original", None)
        click.echo(json.dumps(r, default=str))


@dlq.command("replay")
@click.argument("execution_id")
@_tenant_options
@click.pass_context
def dlq_replay(ctx: click.Context, execution_id: str, tenant: str | None, all_tenants: bool) -> None:
    """Resume a failed execution of the tenant at its failed step (the runtime workers pick it up)."""
    import asyncio

    from automate.db import connect
    from automate.db.executions import ExecutionStore
    from automate.dead_letters import replay

    scope = _scope_of(ctx, tenant, all_tenants)
    try:
        with connect(settings_of(ctx)) as conn:  # an execution's tenant never changes
            if ExecutionStore(conn).get(execution_id, scope) is None:
                fail(f"no execution {execution_id}{_whose(scope)}")
        step = asyncio.run(replay(settings_of(ctx), execution_id))
    except AutomateError as exc:
        fail(str(exc))
    console.print(f"replaying {execution_id} from step {step}")
