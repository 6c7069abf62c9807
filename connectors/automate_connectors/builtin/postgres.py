"""``postgres``: a parameterized statement against a database the connection declares (psycopg).

Connection: ``{"dsn": "$secret:REPORTING_DB", "read_only": true, "statement_timeout_ms": 5000}``. Action
``postgres.query``: ``{"sql": "SELECT ... WHERE id = %(id)s", "params": {"id": "{{ event.payload.id }}"},
"max_rows"?: 1000}``; the statement must be written out in the workflow (it is a static field: values go
in as ``params``, never into the SQL text), runs in one transaction of its own (read-only when the
connection says so, cut off after ``statement_timeout_ms``), and returns ``{"rows": [{column: value}],
"rowcount": n}`` with dates as ISO text, decimals as text and bytes as base64. The statement is one
statement (it is prepared); with ``params``, a literal ``%`` in it is written ``%%``.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from automate.errors import ErrorCodes
from automate_connectors.base import ActionSpec, Connector
from automate_connectors.errors import connector_error, normalize

__all__ = ["PostgresConnector"]


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


class PostgresConnector(Connector):
    key = "postgres"
    display_name = "PostgreSQL"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "dsn": {"type": "string", "x-secret": True, "description": "A libpq URL, as a secret reference."},
            "read_only": {"type": "boolean"},
            "statement_timeout_ms": {"type": "integer", "minimum": 1, "maximum": 600000},
        },
        "required": ["dsn"],
        "additionalProperties": False,
    }

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [ActionSpec(
            name="query", static_fields=("sql",), description="One parameterized statement.",
            input_schema={"type": "object", "required": ["sql"], "additionalProperties": False,
                          "properties": {"sql": {"type": "string", "minLength": 1, "maxLength": 100000},
                                         "params": {"type": ["object", "array"]},
                                         "max_rows": {"type": "integer", "minimum": 0, "maximum": 100000}}},
            output_schema={"type": "object", "properties": {"rows": {"type": "array"},
                                                            "rowcount": {"type": "integer"}}})]

    async def aexecute_action(self, action: str, data: dict[str, Any]) -> dict[str, Any]:
        import psycopg
        from psycopg.rows import dict_row

        if action != "query":
            raise connector_error(ErrorCodes.INTERNAL, f"postgres has no action {action!r}")
        timeout_ms = int(self.config.get("statement_timeout_ms", 30000))
        max_rows = int(data.get("max_rows", 1000))
        async with await psycopg.AsyncConnection.connect(
                str(self.config["dsn"]), autocommit=True, connect_timeout=10, row_factory=dict_row,
                application_name="automate-connector-postgres",
                options=f"-c statement_timeout={timeout_ms}") as conn:
            if self.config.get("read_only"):
                await conn.set_read_only(True)
            async with conn.transaction():
                # Prepared, even without parameters: a prepared statement is exactly one statement (no
                # "; COMMIT; SET ..." escaping read-only or the transaction).
                cur = await conn.execute(data["sql"], data.get("params"), prepare=True)
                rows = await cur.fetchmany(max_rows) if cur.description is not None else []
                rowcount = cur.rowcount
        return {"rows": [{k: _json(v) for k, v in row.items()} for row in rows], "rowcount": rowcount}

    def normalize_error(self, exc: Exception) -> Exception:
        import psycopg

        if isinstance(exc, psycopg.Error):
            state = exc.sqlstate or ""
            name = type(exc).__name__
            if state == "57014":
                return connector_error(ErrorCodes.TIMEOUT, "the statement ran past statement_timeout_ms")
            if state.startswith("28"):
                return connector_error(ErrorCodes.AUTH_FAILED, f"the database refused the login ({name})")
            if state == "42501" or state == "25006":
                return connector_error(ErrorCodes.FORBIDDEN, f"the database refused ({name})")
            if state.startswith(("40", "53", "57", "08")) or isinstance(exc, psycopg.OperationalError):
                return connector_error(ErrorCodes.UPSTREAM_5XX if state else ErrorCodes.NETWORK,
                                       f"the database failed ({name})")
            return connector_error(ErrorCodes.INPUT_INVALID, f"the database refused the statement ({name}, "
                                   f"SQLSTATE {state})")
        return normalize(exc)
