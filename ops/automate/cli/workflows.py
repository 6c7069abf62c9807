"""``automate workflows``: apply workflow files, list the automations, show one's live definition.

``apply`` stores each automation for the operator's tenant (``--tenant``, else the settings'), never for
another tenant a file names, unless ``--tenant-from-file`` trusts the files.

``apply`` validates every file first and applies nothing when one is invalid, printing each fault as
``path: message`` under its file. Applying a file whose definition is already live changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from automate.cli.common import console, fail, settings_of
from automate.errors import AutomateError, TenantMismatch, WorkflowValidationError
from automate.runtime.workflows import WorkflowSpec, definition_files, read_definition, validate

__all__ = ["workflows"]


def _known_actions() -> set[str]:
    """Action names a step may use (the registry holds the built-ins, control steps included)."""
    from automate.runtime.actions import registry

    return set(registry.names())


def _database_failure(exc: Exception) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"cannot reach the database ({first}); is it up? `automate up`"


@click.group(name="workflows", context_settings={"help_option_names": ["-h", "--help"]})
def workflows() -> None:
    """Apply, list and show workflows (one automation and its step graph per file)."""


@workflows.command(name="apply")
@click.option("-f", "--file", "paths", multiple=True, required=True,
              type=click.Path(exists=True, path_type=Path),
              help="A workflow file (.yaml, .yml, .json) or a directory of them; repeat for more.")
@click.option("--tenant", default=None,
              help="The tenant the workflows are applied for (default: the settings' tenant, "
                   "AUTOMATE_TENANT). A file naming another tenant is refused.")
@click.option("--tenant-from-file", is_flag=True, default=None,
              help="Trust each file's own `tenant:` (also AUTOMATE_WORKFLOW_TENANT_FROM_FILE=true); files "
                   "without one are applied for --tenant.")
@click.pass_context
def apply_command(ctx: click.Context, paths: tuple[Path, ...], tenant: str | None,
                  tenant_from_file: bool | None) -> None:
    """Validate the workflow files, then store each as the live version of its automation.

    Each automation is the operator's tenant's (--tenant, else the settings'): a file whose `tenant:`
    names another tenant is invalid unless --tenant-from-file is given. A slug is one tenant's: a file
    whose slug another tenant's automation has is invalid. Nothing is applied when any file is invalid. A
    definition equal to the live one is left unchanged; a changed one becomes a new version (executions
    already running keep theirs).
    """
    import psycopg

    from automate.db import connect
    from automate.runtime.workflows.references import reference_faults
    from automate.runtime.workflows.store import apply
    from automate.runtime.workflows.tenants import slug_faults, workflow_tenant

    settings = settings_of(ctx)
    operator = tenant or settings.tenant
    from_file = settings.workflow_tenant_from_file if tenant_from_file is None else tenant_from_file
    files = [file for path in paths for file in definition_files(path)]
    if not files:
        fail(f"no workflow files (.yaml, .yml, .json) in {', '.join(str(p) for p in paths)}")
    known = _known_actions()
    specs: list[tuple[Path, WorkflowSpec, str]] = []
    owners: dict[tuple[str, str], Path] = {}
    invalid = 0
    for file in files:
        try:
            spec = validate(read_definition(file), known)
            owner = workflow_tenant(spec, operator, from_file=from_file)
        except WorkflowValidationError as exc:
            invalid += 1
            click.echo(f"{file}: invalid", err=True)
            for path, message in exc.faults:
                click.echo(f"  {path}: {message}", err=True)
            continue
        except TenantMismatch as exc:
            invalid += 1
            click.echo(f"{file}: invalid", err=True)
            click.echo(f"  $.tenant: {exc.message}", err=True)
            continue
        key = (owner, spec.slug)
        if key in owners:
            invalid += 1
            click.echo(f"{file}: invalid", err=True)
            click.echo(f"  $.slug: {key[0]}/{key[1]} is also defined by {owners[key]}", err=True)
            continue
        owners[key] = file
        specs.append((file, spec, owner))
    if invalid:
        fail(f"{invalid} of {len(files)} workflow file(s) invalid; nothing was applied")
    try:
        with connect(settings) as conn:
            for file, spec, owner in specs:  # what the files name outside themselves, before any is applied
                faults = reference_faults(conn, spec, owner) + slug_faults(conn, spec.slug, owner)
                if faults:
                    invalid += 1
                    click.echo(f"{file}: invalid", err=True)
                    for path, message in faults:
                        click.echo(f"  {path}: {message}", err=True)
            if invalid:
                fail(f"{invalid} of {len(files)} workflow file(s) invalid; nothing was applied")
            for file, spec, owner in specs:
                result = apply(conn, spec, settings, tenant=owner, tenant_from_file=from_file)
                state = "created" if result.created else "unchanged"
                click.echo(f"{result.tenant}/{result.slug}: version {result.version} {state} ({file})")
    except psycopg.OperationalError as exc:
        fail(_database_failure(exc))
    except AutomateError as exc:
        fail(str(exc))


@workflows.command(name="list")
@click.option("--tenant", default=None, help="Only this tenant's automations (default: every tenant).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.pass_context
def list_command(ctx: click.Context, tenant: str | None, as_json: bool) -> None:
    """The automations, their live version and triggers."""
    import psycopg

    from automate.db import connect
    from automate.runtime.workflows.store import list_workflows

    try:
        with connect(settings_of(ctx)) as conn:
            summaries = list_workflows(conn, tenant)
    except psycopg.OperationalError as exc:
        fail(_database_failure(exc))
    if as_json:
        click.echo(json.dumps([{
            "slug": s.slug, "tenant": s.tenant, "name": s.name, "live_version": s.live_version,
            "enabled": s.enabled, "triggers": s.triggers, "updated_at": s.updated_at.isoformat(),
        } for s in summaries], indent=2))
        return
    table = Table("slug", "tenant", "live version", "enabled", "triggers")
    for s in summaries:
        table.add_row(s.slug, s.tenant, str(s.live_version or "-"), "yes" if s.enabled else "[red]no[/]",
                      ", ".join(s.triggers) or "-")
    Console().print(table)
    if not summaries:
        console.print("no workflows yet; add one with `automate workflows apply -f FILE`")


@workflows.command(name="show")
@click.argument("slug")
@click.option("--tenant", default=None, help="The automation's tenant (default: the settings' tenant).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the full definition.")
@click.pass_context
def show_command(ctx: click.Context, slug: str, tenant: str | None, as_json: bool) -> None:
    """The live definition of workflow SLUG, with its version and triggers."""
    import psycopg

    from automate.db import connect
    from automate.runtime.workflows.store import get_workflow

    settings = settings_of(ctx)
    tenant = tenant or settings.tenant
    try:
        with connect(settings) as conn:
            found = get_workflow(conn, slug, tenant)
    except psycopg.OperationalError as exc:
        fail(_database_failure(exc))
    if found is None:
        fail(f"no workflow {slug!r} for tenant {tenant!r}; see `automate workflows list`")
    automation, spec, version = found
    info: dict[str, Any] = {
        "slug": automation.slug, "tenant": automation.tenant, "name": automation.name,
        "automation_id": automation.automation_id, "enabled": automation.enabled, "live_version": version,
        "triggers": automation.triggers, "updated_at": automation.updated_at.isoformat(),
    }
    if as_json:
        click.echo(json.dumps({**info, "definition": spec.model_dump(mode="json")}, indent=2,
                              ensure_ascii=False))
        return
    for key, value in info.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"{key + ':':<15}{shown}")
    click.echo("---")
    definition = spec.model_dump(mode="json", exclude_defaults=True)
    click.echo(yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=100).rstrip())


def _toggle(ctx: click.Context, slug: str, tenant: str | None, enabled: bool) -> None:
    import psycopg

    from automate.db import connect
    from automate.runtime.workflows.store import set_enabled

    settings = settings_of(ctx)
    tenant = tenant or settings.tenant
    try:
        with connect(settings) as conn:
            found = set_enabled(conn, slug, tenant, enabled)
    except psycopg.OperationalError as exc:
        fail(_database_failure(exc))
    if not found:
        fail(f"no workflow {slug!r} for tenant {tenant!r}; see `automate workflows list`")
    click.echo(f"{tenant}/{slug}: {'enabled' if enabled else 'disabled'}")


@workflows.command(name="enable")
@click.argument("slug")
@click.option("--tenant", default=None, help="The automation's tenant (default: the settings' tenant).")
@click.pass_context
def enable_command(ctx: click.Context, slug: str, tenant: str | None) -> None:
    """Let events trigger workflow SLUG again (the running processors pick it up within seconds)."""
    _toggle(ctx, slug, tenant, True)


@workflows.command(name="disable")
@click.argument("slug")
@click.option("--tenant", default=None, help="The automation's tenant (default: the settings' tenant).")
@click.pass_context
def disable_command(ctx: click.Context, slug: str, tenant: str | None) -> None:
    """Stop events from triggering workflow SLUG; executions already requested still run,
    and `run_workflow` still works."""
    _toggle(ctx, slug, tenant, False)
