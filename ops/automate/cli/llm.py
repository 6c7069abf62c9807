"""``automate llm``: budgets of the automations' LLM calls, and what the calls used."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from automate.cli.common import console, fail, settings_of
from automate.errors import AutomateError

__all__ = ["llm"]


@click.group()
def llm() -> None:
    """LLM calls: per-automation budgets (USD and/or tokens per UTC day or month) and usage."""


@llm.group()
def budget() -> None:
    """What an automation's LLM calls may spend; a spent budget stops its llm.chat steps."""


@budget.command("set")
@click.argument("automation")
@click.option("--usd", type=str, default=None, help="At most this many US dollars per period (list price).")
@click.option("--tokens", type=int, default=None,
              help="At most this many tokens (input and output) per period.")
@click.option("--period", type=click.Choice(["day", "month"]), default="day", show_default=True,
              help="The UTC day or month the limits apply to.")
@click.option("--tenant", default=None, help="Whose automation (default: AUTOMATE_TENANT).")
@click.pass_context
def budget_set(ctx: click.Context, automation: str, usd: str | None, tokens: int | None, period: str,
               tenant: str | None) -> None:
    """Give AUTOMATION a budget (replacing the one it had)."""
    from automate_llm.budgets import set_budget

    try:
        set_budget(settings_of(ctx), automation, usd=usd, tokens=tokens, period=period, tenant=tenant)
    except AutomateError as exc:
        fail(str(exc))
    limits = " and ".join(part for part in (f"${usd}" if usd is not None else "",
                                            f"{tokens} tokens" if tokens is not None else "") if part)
    console.print(f"budget of {automation}: {limits} per {period}")


@budget.command("list")
@click.option("--tenant", default=None, help="Whose budgets (default: AUTOMATE_TENANT).")
@click.pass_context
def budget_list(ctx: click.Context, tenant: str | None) -> None:
    """Every budget, with what its current period has used."""
    from automate_llm.budgets import list_budgets

    try:
        found = list_budgets(settings_of(ctx), tenant=tenant)
    except AutomateError as exc:
        fail(str(exc))
    table = Table("automation", "period", "usd limit", "usd used", "token limit", "tokens used", "state")
    for b in found:
        table.add_row(b.automation, b.period, "-" if b.usd_limit is None else f"{b.usd_limit:f}",
                      f"{b.usd_used:.6f}", "-" if b.token_limit is None else str(b.token_limit),
                      str(b.tokens_used), "spent" if b.exceeded else "ok")
    Console(width=200).print(table)


@budget.command("delete")
@click.argument("automation")
@click.option("--tenant", default=None, help="Whose automation (default: AUTOMATE_TENANT).")
@click.pass_context
def budget_delete(ctx: click.Context, automation: str, tenant: str | None) -> None:
    """Remove AUTOMATION's budget (its calls are no longer limited)."""
    from automate_llm.budgets import delete_budget

    try:
        removed = delete_budget(settings_of(ctx), automation, tenant=tenant)
    except AutomateError as exc:
        fail(str(exc))
    if not removed:
        fail(f"{automation} has no budget")
    console.print(f"budget of {automation} removed")


@llm.command("usage")
@click.option("--automation", default=None, help="Only this automation.")
@click.option("--days", type=int, default=30, show_default=True, help="The last N UTC days.")
@click.option("--tenant", default=None, help="Whose automations (default: AUTOMATE_TENANT).")
@click.pass_context
def usage(ctx: click.Context, automation: str | None, days: int, tenant: str | None) -> None:
    """Requests, tokens and cost of the automations' LLM calls per UTC day (newest first)."""
    from automate_llm.budgets import usage as usage_rows

    try:
        rows = usage_rows(settings_of(ctx), tenant=tenant, automation=automation, days=days)
    except AutomateError as exc:
        fail(str(exc))
    table = Table("day", "automation", "requests", "input tokens", "output tokens", "cost usd")
    for row in rows:
        table.add_row(str(row.day), row.automation, str(row.requests), str(row.input_tokens),
                      str(row.output_tokens), f"{row.cost_usd:.6f}")
    Console(width=200).print(table)
