"""Budgets per automation: how much its LLM calls may spend per UTC day or month, in US dollars and/or
tokens, and what they used.

A call made for an automation (``automation=``, or the step's) first checks its budget: when the
current period's usage has reached a limit, :class:`~automate.errors.LlmBudgetExceeded` stops it before
anything is sent. After the call its tokens and cost are added in one atomic UPDATE. Calls running at the
same moment all pass the check, so a period may end over its limit by what those calls used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from automate.config import Settings
from automate.db.context import pool
from automate.db.llm import LlmStore, UsageRow
from automate.errors import LlmBudgetExceeded, UsageError

__all__ = ["PERIODS", "Budget", "charge", "check", "delete_budget", "list_budgets", "set_budget", "usage"]

PERIODS = ("day", "month")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_USD = Decimal("100000000")
MAX_TOKENS = 10**15


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """An automation's budget and what its current period has used."""

    automation: str
    period: str
    usd_limit: Decimal | None
    token_limit: int | None
    usd_used: Decimal
    tokens_used: int

    @property
    def exceeded(self) -> bool:
        return ((self.usd_limit is not None and self.usd_used >= self.usd_limit)
                or (self.token_limit is not None and self.tokens_used >= self.token_limit))


def _slug(automation: str) -> str:
    if not isinstance(automation, str) or not _SLUG.match(automation):
        raise UsageError(f"{str(automation)[:64]!r} is not an automation slug")
    return automation


def set_budget(settings: Settings, automation: str, *, usd: float | str | Decimal | None = None,
               tokens: int | None = None, period: str = "day", tenant: str | None = None) -> None:
    """Give ``automation`` a budget (replacing its previous one).

    Raises:
        UsageError: A bad slug or period, no limit, or a negative one.
    """
    if period not in PERIODS:
        raise UsageError(f"a budget's period is day or month, not {str(period)[:16]!r}")
    if usd is None and tokens is None:
        raise UsageError("a budget needs a USD limit, a token limit, or both")
    usd_limit = None
    if usd is not None:
        try:
            usd_limit = Decimal(str(usd))
        except InvalidOperation:
            raise UsageError("the USD limit must be a number") from None
        if not (usd_limit.is_finite() and 0 <= usd_limit <= MAX_USD):
            raise UsageError(f"the USD limit must be from 0 to {MAX_USD}")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int)
                               or not 0 <= tokens <= MAX_TOKENS):
        raise UsageError(f"the token limit must be an integer from 0 to {MAX_TOKENS}")
    with pool(settings).connection() as conn:
        LlmStore(conn).put_budget(tenant or settings.tenant, _slug(automation), period=period,
                                  usd_limit=usd_limit, token_limit=tokens)


def delete_budget(settings: Settings, automation: str, *, tenant: str | None = None) -> bool:
    """Remove ``automation``'s budget; False if it had none."""
    with pool(settings).connection() as conn:
        return LlmStore(conn).delete_budget(tenant or settings.tenant, _slug(automation))


def list_budgets(settings: Settings, *, tenant: str | None = None,
                 automation: str | None = None) -> list[Budget]:
    """The tenant's budgets (or ``automation``'s) with their current period's usage."""
    with pool(settings).connection() as conn:
        rows = LlmStore(conn).budgets(tenant or settings.tenant,
                                      None if automation is None else _slug(automation))
    return [Budget(automation=r.automation, period=r.period, usd_limit=r.usd_limit, token_limit=r.token_limit,
                   usd_used=r.usd_used, tokens_used=r.tokens_used) for r in rows]


def usage(settings: Settings, *, tenant: str | None = None, automation: str | None = None,
          days: int = 30) -> list[UsageRow]:
    """Per automation and UTC day, the last ``days`` days' requests, tokens and cost (newest first)."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3660:
        raise UsageError("days must be an integer from 1 to 3660")
    since: date = datetime.now(UTC).date() - timedelta(days=days - 1)
    with pool(settings).connection() as conn:
        return LlmStore(conn).usage(tenant or settings.tenant, since=since,
                                    automation=None if automation is None else _slug(automation))


def check(settings: Settings, tenant: str, automation: str) -> None:
    """Raise LlmBudgetExceeded when ``automation`` has spent its budget for the current period."""
    for budget in list_budgets(settings, tenant=tenant, automation=automation):
        if budget.exceeded:
            limits = ", ".join(part for part in (
                f"${budget.usd_used:.4f} of ${budget.usd_limit}" if budget.usd_limit is not None else "",
                f"{budget.tokens_used} of {budget.token_limit} tokens" if budget.token_limit is not None
                else "") if part)
            raise LlmBudgetExceeded(f"automation {automation} has spent its LLM budget for the "
                                    f"{budget.period} ({limits})")


def charge(settings: Settings, tenant: str, automation: str, *, input_tokens: int, output_tokens: int,
           cost_usd: float) -> None:
    """Add one call's usage to ``automation``'s day."""
    with pool(settings).connection() as conn:
        LlmStore(conn).add_usage(tenant, automation, input_tokens=input_tokens, output_tokens=output_tokens,
                                 cost_usd=cost_usd)
