"""Databases of a PostgreSQL server: the benchmark's and the tests' own, made and dropped whole."""

from __future__ import annotations

from psycopg import sql

from automate.db.queries import query
from automate.db.store import Store

__all__ = ["DatabaseAdmin"]


class DatabaseAdmin(Store):
    """Creates and drops databases; works on an autocommit connection (they cannot run in a
    transaction)."""

    group = "admin"

    def _ddl(self, statement_name: str, /, **identifiers: str) -> None:
        statement = sql.SQL(query(self.group, statement_name))
        self.cursor.execute(statement.format(**{k: sql.Identifier(v) for k, v in identifiers.items()}))

    def ping(self) -> None:
        self._execute("ping")

    def exists(self, name: str) -> bool:
        return self._one("database_exists", {"name": name}) is not None

    def create(self, name: str, *, template: str | None = None) -> None:
        if template is None:
            self._ddl("create_database", name=name)
        else:
            self._ddl("create_database_from", name=name, template=template)

    def reload_config(self) -> None:
        """Make the server re-read its configuration files (pg_hba.conf among them); needs a superuser."""
        self._execute("reload_config")

    def unsafe_hba_rules(self) -> int:
        """How many rules of the server's pg_hba.conf allow trust logins or could not be read."""
        row = self._one("unsafe_hba_rules")
        return int(row[0]) if row else 0

    def drop(self, name: str) -> None:
        """Drop ``name`` if it exists, disconnecting its sessions."""
        self._ddl("drop_database", name=name)
