"""The ``automate`` command: the local stack, the schema, and every worker of the pipeline."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from automate.cli.common import console, fail, settings_of
from automate.config import get_settings
from automate.errors import AutomateError
from automate.redact import mask_url

__all__ = ["cli", "main"]

@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Automate: event-driven workflow automation on Apache Kafka.

    Settings come from AUTOMATE_* environment variables or automate.toml (see README).
    """
    from automate.kafka_security import check_settings

    try:
        ctx.obj = get_settings()
        check_settings(ctx.obj)
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        fail(f"invalid settings: {exc}")
    except AutomateError as exc:  # a ConfigurationError naming the setting
        fail(f"invalid settings: {exc}")


def _report(service: str, message: str) -> None:
    console.print(f"[cyan]{service:<11}[/] {message}", soft_wrap=True)


@cli.command()
@click.argument("services", nargs=-1)
@click.pass_context
def up(ctx: click.Context, services: tuple[str, ...]) -> None:
    """Start the local stack (or just SERVICES and what they need) under .automate/.

    Services: postgres, kafka, connect, registry, prometheus. One is skipped when its external URL is
    configured (AUTOMATE_DATABASE_URL, AUTOMATE_KAFKA_BOOTSTRAP, AUTOMATE_CONNECT_URL,
    AUTOMATE_SCHEMA_REGISTRY_URL, AUTOMATE_PROMETHEUS_URL). Running services are left alone.
    """
    from automate.stack import Stack

    began = time.monotonic()
    try:
        Stack(settings_of(ctx)).up(services or None, report=_report)
    except AutomateError as exc:
        fail(str(exc))
    console.print(f"[green]stack up[/] in {time.monotonic() - began:.1f}s")


@cli.command()
@click.argument("services", nargs=-1)
@click.option("--purge", is_flag=True, help="Also delete the services' data (databases, topics, schemas).")
@click.pass_context
def down(ctx: click.Context, services: tuple[str, ...], purge: bool) -> None:
    """Stop the local stack (or SERVICES); no process is left behind."""
    from automate.stack import Stack

    try:
        Stack(settings_of(ctx)).down(services or None, report=_report, purge=purge)
    except AutomateError as exc:
        fail(str(exc))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object keyed by service.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Which service is up, on which port, since when; and whether the publisher (Debezium's connector,
    task and slot, or the relay's backlog) is working. Exits 1 when a local service is not running, or
    when the installation is set up (`automate migrate`) and its publisher is not working."""
    from automate.stack import Stack

    settings = settings_of(ctx)
    statuses = Stack(settings).status()
    services_up = all(s.state in ("running", "external") for s in statuses)
    health = _publisher_health(settings) if services_up else None
    if as_json:
        out = {s.name: s.to_dict() for s in statuses}
        if health is not None:
            out["publisher"] = health.to_dict()
        click.echo(json.dumps(out, indent=2))
    else:
        table = Table("service", "state", "pid", "since")
        table.add_column("url", overflow="fold")
        colors = {"running": "green", "external": "blue", "stopped": "red", "unhealthy": "yellow"}
        for s in statuses:
            since = s.to_dict()["since"] or ""
            table.add_row(s.name, f"[{colors.get(s.state, 'white')}]{s.state}[/]", str(s.pid or ""),
                          str(since), s.url)
        Console().print(table)
        if health is not None:
            color = "green" if health.working else "red"
            console.print(f"publisher [{color}]{'working' if health.working else 'NOT working'}[/]: "
                          f"{health.summary()}", soft_wrap=True, markup=True)
    if not services_up or (health is not None and not health.working):
        sys.exit(1)


def _publisher_health(settings: Any) -> Any:
    """The publisher's health, or None when the installation is not set up (no migrated database)."""
    import psycopg

    from automate.db import applied_versions, connect
    from automate.publisher_watch import publisher_health

    try:
        with connect(settings, connect_timeout=5) as conn:
            if not applied_versions(conn):
                return None
    except psycopg.Error:
        return None
    return publisher_health(settings)


@cli.command()
@click.argument("service")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines from the end.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@click.pass_context
def logs(ctx: click.Context, service: str, lines: int, follow: bool) -> None:
    """Print the log of one local SERVICE."""
    from automate.stack import Stack
    from automate.stack.process import tail

    stack = Stack(settings_of(ctx))
    if service not in stack.services:
        fail(f"unknown service {service!r}; known: {', '.join(stack.services)}")
    path = stack.layout.log(service)
    if not path.exists():
        fail(f"no log yet for {service} ({path}); start it with `automate up {service}`")
    click.echo(tail(path, lines))
    if follow:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            try:
                while True:
                    chunk = fh.read()
                    if chunk:
                        sys.stdout.write(chunk.decode("utf-8", "replace"))
                        sys.stdout.flush()
                    else:
                        time.sleep(0.3)
            except KeyboardInterrupt:
                pass


@cli.command()
@click.option("--no-schemas", is_flag=True, help="Do not register the Avro contracts in the registry.")
@click.option("--no-connector", is_flag=True, help="Do not register (or remove) the Debezium connector.")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=0, show_default=True,
              help="Seconds to wait for PostgreSQL, Kafka, the registry and Connect to answer first (a "
                   "container started beside them).")
@click.pass_context
def migrate(ctx: click.Context, no_schemas: bool, no_connector: bool, wait_s: float) -> None:
    """Apply the pending database migrations, register the contracts, set up the publisher.

    Safe to run again and concurrently. With AUTOMATE_PUBLISHER=debezium (the default) the outbox
    connector is registered in Kafka Connect; with =relay it is removed (never both on one table).
    """
    import psycopg

    from automate.db import connect, current_publisher, set_publisher
    from automate.db import migrate as run_migrations

    settings = settings_of(ctx)
    if wait_s:
        from automate.stack.readiness import wait_for_services

        try:
            wait_for_services(settings, wait_s, registry=not no_schemas, connect=not no_connector)
        except AutomateError as exc:
            fail(str(exc))
    try:
        with connect(settings) as conn:
            applied = run_migrations(conn)
            for m in applied:
                console.print(f"applied [green]{m.version:04d}_{m.name}[/]")
            if not applied:
                console.print("database schema is up to date")
            before = current_publisher(conn)
            conn.commit()  # end the read's transaction: the binding below is one of its own
            if before != settings.publisher:
                set_publisher(conn, settings.publisher)
                console.print(f"outbox bound to publisher {settings.publisher} (was {before or 'none'})")
            if not no_schemas:
                from automate.registry import register_contracts

                registered = register_contracts(settings, conn)
                console.print(f"registered {len(registered)} contracts at {mask_url(settings.registry_url)}")
    except psycopg.OperationalError as exc:
        fail(f"cannot reach the database ({str(exc).strip().splitlines()[0]}); is it up? `automate up`")
    except AutomateError as exc:
        fail(str(exc))
    from automate.topics import core_topics, ensure_topics

    try:
        created = ensure_topics(settings, core_topics(settings))
    except AutomateError as exc:
        fail(str(exc))
    if created:
        console.print(f"created topics {', '.join(created)}")
    if not no_connector:
        from automate.stack.cdc import ensure_outbox_connector

        try:
            done = ensure_outbox_connector(settings)
        except AutomateError as exc:
            fail(f"Kafka Connect: {exc}")
        console.print(f"outbox connector (publisher={settings.publisher}): {done}")


def main() -> None:
    cli()


def _register() -> None:
    from automate.cli.bench import bench
    from automate.cli.connections import connections, serve
    from automate.cli.demo import demo
    from automate.cli.events import emit, publisher_watch, relay, schemas
    from automate.cli.llm import llm
    from automate.cli.rag import rag
    from automate.cli.rules import rules
    from automate.cli.runtime import dlq, executions, processors, retry_worker, runtime
    from automate.cli.secrets import secrets
    from automate.cli.smoke import smoke
    from automate.cli.top import top
    from automate.cli.workflows import workflows

    for command in (bench, connections, demo, dlq, emit, executions, processors, publisher_watch, relay,
                    retry_worker, rules, runtime, schemas, secrets, serve, smoke, top, workflows, rag, llm):
        cli.add_command(command)


_register()
