"""Budgets per automation: how much its LLM calls may spend per UTC day or month, in US dollars and/or
tokens, and what they used.

A call made for an automation (``automation=``, or the step's) first reserves what it may spend: its
prompt's token estimate plus its ``max_tokens`` (:data:`DEFAULT_OUTPUT_RESERVE` when not given), priced
at the model's list price. The reservation is made in one transaction that locks the budget's row, reads
the period's usage and the live reservations in one statement, and adds the reservation only when
everything fits the limits; else :class:`~automate.errors.LlmBudgetExceeded` stops the call before
anything is sent. Concurrent calls queue on that row lock, so together they never reserve more than the
budget. After the call, its real usage is charged and its reservation removed in one transaction (on a
failure, the reservation is just removed). A reservation a crashed worker left stops counting after
:data:`RESERVATION_TTL_S` plus the call's timeouts.

A model with no price (neither the built-in table nor ``settings.llm_prices``) cannot be kept within a
USD limit: such a call is refused with LlmBudgetExceeded instead of being counted as free.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from automate.config import Settings
from automate.db.context import pool
from automate.db.llm import LlmStore, UsageRow
from automate.errors import LlmBudgetExceeded, UsageError
from automate_llm.models import price

__all__ = ["DEFAULT_OUTPUT_RESERVE", "PERIODS", "Budget", "Reservation", "charge", "delete_budget",
           "list_budgets", "release", "reserve", "set_budget", "settle", "usage"]

PERIODS = ("day", "month")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_USD = Decimal("100000000")  # llm_budget.usd_limit is numeric(18, 8): 10 digits before the point
DEFAULT_OUTPUT_RESERVE = 1024  # output tokens reserved for a call without max_tokens
RESERVATION_TTL_S = 300.0
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    """What a call in flight holds of its automation's budget."""

    id: uuid.UUID
    tenant: str
    automation: str
    tokens: int
    usd: Decimal


def _since(period: str) -> date:
    today = datetime.now(UTC).date()
    return today if period == "day" else today.replace(day=1)


def reserve(settings: Settings, tenant: str, automation: str, *, model: str, input_tokens: int,
            output_tokens: int, ttl_s: float) -> Reservation | None:
    """Reserve what a call may spend (``input_tokens`` estimated, ``output_tokens`` its cap) of
    ``automation``'s budget; None when it has no budget.

    Raises:
        LlmBudgetExceeded: It does not fit what is left of the period's limits (usage and the other
            calls' reservations), or the budget has a USD limit and ``model`` no price.
    """
    tokens = input_tokens + output_tokens
    with pool(settings).connection() as conn, conn.transaction():
        store = LlmStore(conn)
        budget = store.lock_budget(tenant, automation)
        if budget is None:
            return None
        period, usd_limit, token_limit = budget
        prices = price(model, dict(settings.llm_prices))
        if usd_limit is not None and prices is None:
            raise LlmBudgetExceeded(f"automation {automation} has a USD budget and model {model} has no "
                                    f"price: add it to AUTOMATE_LLM_PRICES so its calls can be counted")
        usd = Decimal(0) if prices is None else (
            Decimal(repr(input_tokens * prices[0] + output_tokens * prices[1])) / 1_000_000)
        used_tokens, used_usd = store.spent(tenant, automation, since=_since(period))
        over = [part for part in (
            f"${used_usd:.6f} used or reserved of ${usd_limit}, this call may spend ${usd:.6f}"
            if usd_limit is not None and used_usd + usd > usd_limit else "",
            f"{used_tokens} of {token_limit} tokens used or reserved, this call may use {tokens}"
            if token_limit is not None and used_tokens + tokens > token_limit else "") if part]
        if over:
            raise LlmBudgetExceeded(f"automation {automation} has no LLM budget left for this call in the "
                                    f"{period} ({'; '.join(over)})")
        reservation = Reservation(id=uuid.uuid4(), tenant=tenant, automation=automation, tokens=tokens,
                                  usd=usd)
        store.add_reservation(reservation.id, tenant, automation, tokens=tokens, usd=usd,
                              ttl_s=RESERVATION_TTL_S + ttl_s)
        return reservation


def release(settings: Settings, reservation: Reservation) -> None:
    """Remove a reservation (the call failed before spending anything)."""
    with pool(settings).connection() as conn:
        LlmStore(conn).delete_reservation(reservation.id)


def settle(settings: Settings, tenant: str, automation: str, reservation: Reservation | None, *,
           input_tokens: int, output_tokens: int, cost_usd: float) -> None:
    """Charge a call's real usage to ``automation``'s day and remove its reservation, in one transaction."""
    with pool(settings).connection() as conn, conn.transaction():
        store = LlmStore(conn)
        if reservation is not None:
            store.delete_reservation(reservation.id)
        store.add_usage(tenant, automation, input_tokens=input_tokens, output_tokens=output_tokens,
                        cost_usd=cost_usd)


def charge(settings: Settings, tenant: str, automation: str, *, input_tokens: int, output_tokens: int,
           cost_usd: float) -> None:
    """Add one call's usage to ``automation``'s day (no reservation)."""
    settle(settings, tenant, automation, None, input_tokens=input_tokens, output_tokens=output_tokens,
           cost_usd=cost_usd)
