"""The machinery behind ``Model.objects``: a table's description, the SQL built from it, one manager.

Not a general ORM. A manager inserts rows, selects them by field equality or ``field__in`` with an
ordering and a limit, and counts them. Every name in a query comes from the model's column whitelist
and is composed with ``psycopg.sql``; every value is a bound parameter.

Where a call runs: the ``using=`` connection, else the ambient one (``automate.db.context``), else a
connection of the shared pool of ``settings`` (the process's settings when None), committed at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from automate import errors
from automate.config import Settings, get_settings
from automate.db.context import current_connection, pool
from automate.errors import UsageError

__all__ = ["Manager", "Model", "Table", "atomic"]

_NOTHING = sql.SQL("FALSE")


@dataclass(frozen=True, slots=True)
class Table:
    """What a manager knows of its table.

    Attributes:
        name: The SQL table.
        columns: Column name to Postgres type, in the model's field order (the whitelist).
        required: Columns that are NOT NULL without a default: ``create()`` refuses to go without them.
        aliases: Relation names accepted for their id column, e.g. ``automation`` for ``automation_id``.
    """

    name: str
    columns: Mapping[str, str]
    required: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=dict)

    def is_uuid(self, column: str) -> bool:
        return self.columns[column] == "uuid"

    def is_json(self, column: str) -> bool:
        return self.columns[column] == "jsonb"


@dataclass(slots=True, kw_only=True)
class Model:
    """Base of the row classes: typed attributes, ``objects`` manager, per-model ``DoesNotExist``."""

    table: ClassVar[Table]
    objects: ClassVar[Manager[Any]]
    DoesNotExist: ClassVar[type[errors.DoesNotExist]]
    MultipleObjectsReturned: ClassVar[type[errors.MultipleObjectsReturned]]

    id: str
    # The settings the row was loaded with (None: the process's), reused by refresh and relations.
    _settings: Settings | None = field(default=None, init=False, repr=False, compare=False)

    def refresh_from_db(self, *, using: psycopg.Connection[Any] | None = None,
                        settings: Settings | None = None) -> None:
        """Reload every field from the database, in place.

        Raises:
            DoesNotExist: the row is gone (the model's own subclass).
        """
        fresh = type(self).objects.get(id=self.id, using=using, settings=settings or self._settings)
        for column in self.table.columns:
            setattr(self, column, getattr(fresh, column))


M = TypeVar("M", bound=Model)


class Manager(Generic[M]):
    """The queries of one model, reached as ``Model.objects``."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.table = model.table

    # Where a call runs.

    @contextmanager
    def connection(self, using: psycopg.Connection[Any] | None,
                   settings: Settings | None) -> Iterator[psycopg.Connection[Any]]:
        """``using``, else the ambient connection, else a pooled one committed when the block ends."""
        conn = using or current_connection()
        if conn is not None:
            yield conn
            return
        with pool(settings or get_settings()).connection() as own:
            yield own

    # Public API.

    def create(self, *, using: psycopg.Connection[Any] | None = None, settings: Settings | None = None,
               **fields: Any) -> M:
        """Insert a row and return it with the database's defaults filled in.

        ``id`` is a new uuid4 unless given. Relations may be given as objects or ids (``automation=``).

        Raises:
            TypeError: an unknown field, or a required one missing.
            ValueError: an id that is not a UUID.
        """
        values = self.prepare(self._columns(fields, "create"), settings)
        with self.connection(using, settings) as conn, atomic(conn):
            return self.insert(conn, values, settings)

    def get(self, *, using: psycopg.Connection[Any] | None = None, settings: Settings | None = None,
            **eq: Any) -> M:
        """The one row whose fields equal ``eq``.

        Raises:
            DoesNotExist: no row matched (``<Model>.DoesNotExist``).
            MultipleObjectsReturned: more than one did.
        """
        found = self.filter(using=using, settings=settings, limit=2, **eq)
        if not found:
            raise self.model.DoesNotExist(f"{self.model.__name__} matching {_describe(eq)} does not exist")
        if len(found) > 1:
            raise self.model.MultipleObjectsReturned(
                f"more than one {self.model.__name__} matches {_describe(eq)}"
            )
        return found[0]

    def filter(self, *, using: psycopg.Connection[Any] | None = None, settings: Settings | None = None,
               order_by: str | Sequence[str] | None = None, limit: int | None = None, **eq: Any) -> list[M]:
        """The rows whose fields equal ``eq`` (``field=value``, ``field=None``, ``field__in=[...]``).

        Args:
            order_by: Field names, each optionally prefixed by ``-`` for descending order.
            limit: At most this many rows.
        """
        where, params = self._where(eq)
        query = sql.SQL("SELECT {columns} FROM {table} WHERE {where}").format(
            columns=self._column_list(), table=sql.Identifier(self.table.name), where=where,
        )
        if order_by:
            query += sql.SQL(" ORDER BY ") + self._ordering(order_by)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise UsageError(f"limit must be a non-negative int, not {limit!r}")
            query += sql.SQL(" LIMIT ") + sql.Literal(limit)
        with self.connection(using, settings) as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(query, params).fetchall()
        return [self.load(row, settings) for row in rows]

    def count(self, *, using: psycopg.Connection[Any] | None = None, settings: Settings | None = None,
              **eq: Any) -> int:
        """How many rows ``filter(**eq)`` would return."""
        where, params = self._where(eq)
        query = sql.SQL("SELECT count(*) FROM {table} WHERE {where}").format(
            table=sql.Identifier(self.table.name), where=where,
        )
        with self.connection(using, settings) as conn:
            row = conn.execute(query, params).fetchone()
        return int(row[0]) if row else 0

    # Hooks and building blocks for the model managers.

    def prepare(self, values: dict[str, Any], settings: Settings | None) -> dict[str, Any]:
        """Fill the defaults of a new row; the base gives it a uuid4 id."""
        if values.get("id") is None:
            values["id"] = str(uuid.uuid4())
        return values

    def insert(self, conn: psycopg.Connection[Any], values: Mapping[str, Any],
               settings: Settings | None) -> M:
        """INSERT ``values`` (column names already checked) on ``conn``; the row as stored."""
        missing = sorted(self.table.required - {k for k, v in values.items() if v is not None})
        if missing:
            raise UsageError(f"{self.model.__name__}.objects.create() missing required field(s): "
                            f"{', '.join(missing)}")
        names = list(values)
        query = sql.SQL("INSERT INTO {table} ({names}) VALUES ({values}) RETURNING {columns}").format(
            table=sql.Identifier(self.table.name),
            names=sql.SQL(", ").join(map(sql.Identifier, names)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(names)),
            columns=self._column_list(),
        )
        params = [self._write_value(name, values[name]) for name in names]
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(query, params).fetchone()
        assert row is not None  # INSERT ... RETURNING always returns the row
        return self.load(row, settings)

    def load(self, row: Mapping[str, Any], settings: Settings | None) -> M:
        """A model instance from a row of all columns (uuids as text)."""
        values = {
            name: str(value) if value is not None and self.table.is_uuid(name) else value
            for name, value in row.items()
        }
        instance = self.model(**values)
        instance._settings = settings
        return instance

    # Internals.

    def _column_list(self) -> sql.Composable:
        return sql.SQL(", ").join(map(sql.Identifier, self.table.columns))

    def _column(self, name: str, operation: str) -> str:
        """The column a field name means, or a TypeError naming the valid ones."""
        column = self.table.aliases.get(name, name)
        if column not in self.table.columns:
            valid = ", ".join(sorted({*self.table.columns, *self.table.aliases}))
            raise UsageError(f"{self.model.__name__}.objects.{operation}(): unknown field {name!r}; "
                            f"valid fields: {valid}")
        return column

    def _columns(self, fields: Mapping[str, Any], operation: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in fields.items():
            column = self._column(name, operation)
            if column in values:
                raise UsageError(f"{self.model.__name__}.objects.{operation}(): {column} given twice")
            values[column] = value
        return values

    def _write_value(self, column: str, value: Any) -> Any:
        if value is None:
            return None
        if self.table.is_json(column):
            return Jsonb(value)
        if self.table.is_uuid(column):
            parsed = _uuid(value)
            if parsed is None:
                raise UsageError(f"{self.model.__name__}.{column} must be a UUID, not {value!r}")
            return parsed
        return value

    def _where(self, conditions: Mapping[str, Any]) -> tuple[sql.Composable, list[Any]]:
        """``a = %s AND b = ANY(%s::t[]) ...``; TRUE for no conditions.

        A malformed uuid or an empty ``__in`` list can match no row: it becomes FALSE rather than an
        error from the database, which would abort a transaction the caller may be sharing.
        """
        clauses: list[sql.Composable] = []
        params: list[Any] = []
        for key, value in conditions.items():
            name, _, lookup = key.partition("__")
            if lookup not in ("", "in"):
                raise UsageError(f"{self.model.__name__}.objects: unsupported lookup {key!r} "
                                "(only equality and __in)")
            column = self._column(name, "filter")
            ident = sql.Identifier(column)
            if lookup == "in":
                if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
                    raise UsageError(f"{key} takes a list of values, not {value!r}")
                matchable = [self._read_value(column, v) for v in value]
                items = [v for v in matchable if v is not _NO_MATCH]
                if not items:
                    clauses.append(_NOTHING)
                    continue
                clauses.append(sql.SQL("{} = ANY({}::{}[])").format(
                    ident, sql.Placeholder(), sql.SQL(self.table.columns[column])))
                params.append(items)
            elif value is None:
                clauses.append(sql.SQL("{} IS NULL").format(ident))
            else:
                matched = self._read_value(column, value)
                if matched is _NO_MATCH:
                    clauses.append(_NOTHING)
                    continue
                clauses.append(sql.SQL("{} = {}").format(ident, sql.Placeholder()))
                params.append(matched)
        if not clauses:
            return sql.SQL("TRUE"), params
        return sql.SQL(" AND ").join(clauses), params

    def _read_value(self, column: str, value: Any) -> Any:
        if self.table.is_json(column):
            return Jsonb(value)
        if self.table.is_uuid(column):
            parsed = _uuid(value)
            return _NO_MATCH if parsed is None else parsed
        return value

    def _ordering(self, order_by: str | Sequence[str]) -> sql.Composable:
        keys = [order_by] if isinstance(order_by, str) else list(order_by)
        parts: list[sql.Composable] = []
        for key in keys:
            descending = key.startswith("-")
            column = self._column(key.removeprefix("-"), "filter")
            parts.append(sql.SQL("{} DESC" if descending else "{} ASC").format(sql.Identifier(column)))
        return sql.SQL(", ").join(parts)


_NO_MATCH = object()


def atomic(conn: psycopg.Connection[Any]) -> AbstractContextManager[Any]:
    """Make a multi-statement write all-or-nothing without taking the transaction from its owner.

    Inside an open transaction this is a savepoint, so that a failed write leaves the caller's
    transaction usable. On an idle connection outside autocommit, psycopg's ``transaction()`` would be
    the outermost block and COMMIT at its end, behind the owner's back: there the first statement
    opens the owner's (implicit) transaction instead, which the owner commits or rolls back.
    """
    if conn.autocommit or conn.info.transaction_status == TransactionStatus.INTRANS:
        return conn.transaction()
    return nullcontext()


def _uuid(value: Any) -> str | None:
    """The canonical text of a uuid given as a str, UUID or model instance; None when malformed."""
    if isinstance(value, Model):
        value = value.id
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _describe(eq: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in eq.items()) or "(no conditions)"
