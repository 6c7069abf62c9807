"""The LLM calls' tables: the response cache (``llm_cache``), budgets (``llm_budget``) and their usage
(``llm_usage``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

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
