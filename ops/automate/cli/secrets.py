"""``automate secrets``: set, list, delete and rotate the ``$secret:`` store. Values are read from stdin
or a prompt, never from the command line (it stays in shell history) and never printed."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from automate.cli.common import console, fail, settings_of
from automate.errors import AutomateError

__all__ = ["secrets"]


@click.group()
def secrets() -> None:
    """Secrets that workflows and connections name as $secret:KEY (stored encrypted in Postgres)."""


@secrets.command("set")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, metavar="automation:SLUG|connector:KEY",
              help="Who may read it (repeat for several); none: any automation or connector of the tenant.")
@click.option("--tenant", default=None, help="Whose secret (default: AUTOMATE_TENANT).")
@click.pass_context
def secrets_set(ctx: click.Context, name: str, scopes: tuple[str, ...], tenant: str | None) -> None:
    """Store secret NAME; its value is read from stdin, or asked for (hidden) on a terminal."""
    from automate.secrets.admin import set_secret

    if sys.stdin.isatty():
        value = click.prompt(f"value of {name}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read().rstrip("\r\n")
    try:
        set_secret(settings_of(ctx), name, value, scopes=list(scopes), tenant=tenant)
    except AutomateError as exc:
        fail(str(exc))
    console.print(f"secret {name} stored" + (f", readable by {', '.join(scopes)}" if scopes else ""))


@secrets.command("list")
@click.option("--tenant", default=None, help="Whose secrets (default: AUTOMATE_TENANT).")
@click.pass_context
def secrets_list(ctx: click.Context, tenant: str | None) -> None:
    """The secrets' names, who may read them, and when they changed (never a value)."""
    from automate.secrets.admin import list_secrets

    try:
        found = list_secrets(settings_of(ctx), tenant=tenant)
    except AutomateError as exc:
        fail(str(exc))
    table = Table("name", "readable by", "key", "updated")
    for info in found:
        table.add_row(info.name, ", ".join(info.scopes) or "any", info.key_id, str(info.updated_at)[:19])
    Console().print(table)


@secrets.command("delete")
@click.argument("name")
@click.option("--tenant", default=None, help="Whose secret (default: AUTOMATE_TENANT).")
@click.pass_context
def secrets_delete(ctx: click.Context, name: str, tenant: str | None) -> None:
    """Delete secret NAME."""
    from automate.secrets.admin import delete_secret

    try:
        found = delete_secret(settings_of(ctx), name, tenant=tenant)
    except AutomateError as exc:
        fail(str(exc))
    if not found:
        fail(f"no secret {name}")
    console.print(f"secret {name} deleted")


@secrets.command("rotate")
@click.option("--keep-key", is_flag=True,
              help="Do not make a new key: re-encrypt under the first configured key (e.g. one you put first "
                   "in AUTOMATE_SECRET_KEYS).")
@click.pass_context
def secrets_rotate(ctx: click.Context, keep_key: bool) -> None:
    """Rotate the encryption key: make a new key, re-encrypt every secret under it in one transaction,
    then take the old keys out of the key file."""
    from automate.secrets.admin import rotate_keys

    try:
        done = rotate_keys(settings_of(ctx), new_key=not keep_key)
    except AutomateError as exc:
        fail(str(exc))
    console.print(f"re-encrypted {done.reencrypted} secret(s) under key {done.primary}"
                  + (f"; retired key(s) {', '.join(done.retired)}" if done.retired else ""))
