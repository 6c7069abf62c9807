"""``automate connections``: named connections, a connector's configuration per tenant (credentials as
secret references, never values)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from automate.cli.common import METRICS_PORT, console, fail, settings_of
from automate.errors import AutomateError

__all__ = ["connections", "serve"]


@click.group()
def connections() -> None:
    """Connections that connector steps act with (`connection:` in a workflow step)."""


def _config(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {text[1:]}: {exc.strerror}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--config is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    if not isinstance(value, dict):
        fail("--config must be a JSON object")
    return value


@connections.command("set")
@click.argument("name")
@click.option("--connector", required=True,
              help="The connector's key (see `automate connections connectors`).")
@click.option("--config", "config_text", default="{}", show_default=True,
              help="The configuration, a JSON object or @file.json; credentials as $secret:KEY references.")
@click.option("--tenant", default=None, help="Whose connection (default: AUTOMATE_TENANT).")
@click.pass_context
def connections_set(ctx: click.Context, name: str, connector: str, config_text: str,
                    tenant: str | None) -> None:
    """Create or replace connection NAME (checked against the connector's configuration schema)."""
    from automate_connectors.connections import set_connection

    try:
        set_connection(settings_of(ctx), name, connector, _config(config_text), tenant=tenant)
    except AutomateError as exc:
        fail(str(exc))
    console.print(f"connection {name} ({connector}) stored")


@connections.command("list")
@click.option("--tenant", default=None, help="Whose connections (default: AUTOMATE_TENANT).")
@click.pass_context
def connections_list(ctx: click.Context, tenant: str | None) -> None:
    """The connections and their configuration (references, never secret values)."""
    from automate_connectors.connections import list_connections

    try:
        found = list_connections(settings_of(ctx), tenant=tenant)
    except AutomateError as exc:
        fail(str(exc))
    table = Table("name", "connector", "configuration")
    for name, connector, config in found:
        table.add_row(name, connector, json.dumps(config, sort_keys=True))
    Console().print(table)


@connections.command("delete")
@click.argument("name")
@click.option("--tenant", default=None, help="Whose connection (default: AUTOMATE_TENANT).")
@click.pass_context
def connections_delete(ctx: click.Context, name: str, tenant: str | None) -> None:
    """Delete connection NAME (steps naming it then fail with connection.unknown)."""
    from automate_connectors.connections import delete_connection

    if not delete_connection(settings_of(ctx), name, tenant=tenant):
        fail(f"no connection {name}")
    console.print(f"connection {name} deleted")


@connections.command("connectors")
def connections_connectors() -> None:
    """The connectors installed, their actions and triggers."""
    from automate_connectors.registry import registry

    table = Table("connector", "actions", "triggers", "needs a connection")
    for key in registry.list_connectors():
        cls = registry.get_connector(key)
        table.add_row(key, ", ".join(f"{key}.{a.name}" for a in cls.actions()) or "-",
                      ", ".join(t.name for t in cls.triggers()) or "-",
                      "yes" if cls.requires_connection() else "no")
    Console().print(table)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="Port to listen on.")
@click.option("--max-body", default=1024 * 1024, show_default=True, help="Largest delivery body, in bytes.")
@METRICS_PORT
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, max_body: int, metrics_port: int) -> None:
    """Receive webhooks: POST /hooks/<tenant>/<connection>/<trigger> for every connection of a connector
    with a trigger (e.g. `webhook`), each delivery checked (Standard Webhooks signature, timestamp
    window, body size and schema, the webhook id seen once) and emitted as an event."""
    from automate.cli.common import setup_logging
    from automate.serve import run_server

    setup_logging(settings_of(ctx).log_level)
    run_server(settings_of(ctx), host, port, max_body=max_body, metrics_port=metrics_port)
