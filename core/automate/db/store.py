"""What every store shares: its named queries, run on one connection or on the caller's cursor.

A store owns the SQL of one concern (``queries/<group>.sql``) and gives each operation a method with a
name, as procrastinate's ``JobManager`` does; nothing outside the stores names a query. A store works on
a psycopg connection, or on a DB-API cursor of a transaction the caller holds (a psycopg cursor, or
Django's), so that its writes join that transaction. Stores commit nothing: the transaction is the
caller's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from automate.db.queries import query

__all__ = ["AsyncStore", "Store"]


class Store:
    """Base of the synchronous stores (async twin: :class:`AsyncStore`)."""

    group: ClassVar[str]  # the .sql file of the store's queries

    def __init__(self, db: Any) -> None:
        # A connection has cursor() and no fetchone(); a cursor (psycopg's or Django's) has fetchone().
        self.cursor: Any = db if hasattr(db, "fetchone") else db.cursor()

    def _execute(self, name: str, params: Any = None) -> Any:
        self.cursor.execute(query(self.group, name), params)
        return self.cursor

    def _one(self, name: str, params: Any = None) -> tuple[Any, ...] | None:
        row = self._execute(name, params).fetchone()
        return None if row is None else tuple(row)

    def _all(self, name: str, params: Any = None) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._execute(name, params).fetchall()]

    def _count(self, name: str, params: Any = None) -> int:
        """Rows the statement changed."""
        return int(self._execute(name, params).rowcount)


class AsyncStore:
    """Base of the asynchronous stores (sync twin: :class:`Store`); ``db`` is a psycopg AsyncConnection
    or AsyncCursor."""

    group: ClassVar[str]

    def __init__(self, db: Any) -> None:
        self.cursor: Any = db if hasattr(db, "fetchone") else db.cursor()

    async def _execute(self, name: str, params: Any = None) -> Any:
        await self.cursor.execute(query(self.group, name), params)
        return self.cursor

    async def _one(self, name: str, params: Any = None) -> tuple[Any, ...] | None:
        row = await (await self._execute(name, params)).fetchone()
        return None if row is None else tuple(row)
