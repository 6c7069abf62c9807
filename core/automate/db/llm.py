"""The LLM calls' tables: the response cache (``llm_cache``), budgets (``llm_budget``), their usage
(``llm_usage``) and the reservations of calls in flight (``llm_reservation``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from psycopg.types.json import Jsonb

from automate.db.store import Store

__all__ = ["BudgetRow", "LlmStore", "UsageRow"]


class BudgetRow(NamedTuple):
    automation: str
    period: str  # day | month
    usd_limit: Decimal | None
    token_limit: int | None
    tokens_used: int  # in the current period
    usd_used: Decimal


class UsageRow(NamedTuple):
    automation: str
    day: date
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


class LlmStore(Store):
    """Named queries of the LLM tables."""

    group = "llm"

    def get_cached(self, tenant: str, key: str) -> dict[str, Any] | None:
        """The cached answer of ``key`` if it has not expired."""
        row = self._one("get_cached", {"tenant": tenant, "key": key})
        return None if row is None else dict(row[0])

    def put_cached(self, tenant: str, key: str, response: dict[str, Any], ttl_s: float) -> None:
        self._execute("put_cached", {"tenant": tenant, "key": key, "response": Jsonb(response),
                                     "ttl_s": ttl_s})
        self._execute("purge_cached")

    def put_budget(self, tenant: str, automation: str, *, period: str, usd_limit: Decimal | None,
                   token_limit: int | None) -> None:
        self._execute("put_budget", {"tenant": tenant, "automation": automation, "period": period,
                                     "usd_limit": usd_limit, "token_limit": token_limit})

    def delete_budget(self, tenant: str, automation: str) -> bool:
        return self._count("delete_budget", {"tenant": tenant, "automation": automation}) == 1

    def budgets(self, tenant: str, automation: str | None = None) -> list[BudgetRow]:
        """The tenant's budgets (or ``automation``'s) with their current period's usage."""
        rows = self._all("list_budgets", {"tenant": tenant, "automation": automation})
        return [BudgetRow(str(r[0]), str(r[1]), r[2], None if r[3] is None else int(r[3]), int(r[4]),
                          Decimal(r[5])) for r in rows]

    def add_usage(self, tenant: str, automation: str, *, input_tokens: int, output_tokens: int,
                  cost_usd: float) -> None:
        self._execute("add_usage", {"tenant": tenant, "automation": automation, "input_tokens": input_tokens,
                                    "output_tokens": output_tokens, "cost_usd": Decimal(repr(cost_usd))})

    def usage(self, tenant: str, *, since: date, automation: str | None = None) -> list[UsageRow]:
        rows = self._all("usage", {"tenant": tenant, "since": since, "automation": automation})
        return [UsageRow(str(r[0]), r[1], int(r[2]), int(r[3]), int(r[4]), Decimal(r[5])) for r in rows]

    def lock_budget(self, tenant: str, automation: str) -> tuple[str, Decimal | None, int | None] | None:
        """The budget's period and limits, its row locked until the transaction ends; None: no budget."""
        row = self._one("lock_budget", {"tenant": tenant, "automation": automation})
        return None if row is None else (str(row[0]), row[1], None if row[2] is None else int(row[2]))

    def spent(self, tenant: str, automation: str, *, since: date) -> tuple[int, Decimal]:
        """Tokens and USD charged since ``since`` plus what live reservations hold (one snapshot)."""
        row = self._one("budget_spent", {"tenant": tenant, "automation": automation, "since": since})
        return (0, Decimal(0)) if row is None else (int(row[0]), Decimal(row[1]))

    def add_reservation(self, reservation: UUID, tenant: str, automation: str, *, tokens: int, usd: Decimal,
                        ttl_s: float) -> None:
        self._execute("purge_reservations")
        self._execute("add_reservation", {"id": reservation, "tenant": tenant, "automation": automation,
                                          "tokens": tokens, "usd": usd, "ttl_s": ttl_s})

    def delete_reservation(self, reservation: UUID) -> None:
        self._execute("delete_reservation", {"id": reservation})
