"""What the Debezium publisher needs of the database: the outbox's publication and its replication slot."""

from __future__ import annotations

from psycopg import sql

from automate.db.queries import query
from automate.db.store import Store

__all__ = ["CdcStore"]


class CdcStore(Store):
    """The publication Debezium reads the outbox's inserts from, and the state of its slot."""

    group = "cdc"

    def ensure_publication(self, name: str) -> bool:
        """Create the publication ``name`` unless it exists; returns whether it was created."""
        if self._one("publication_exists", {"name": name}) is not None:
            return False
        statement = sql.SQL(query(self.group, "create_publication"))
        self.cursor.execute(statement.format(name=sql.Identifier(name)))
        return True

    def slot_active(self, slot: str) -> bool:
        """Whether a client (Debezium's task) is streaming from replication slot ``slot``."""
        row = self._one("slot_active", {"slot": slot})
        return bool(row is not None and row[0])
