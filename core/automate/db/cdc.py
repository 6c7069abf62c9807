"""What the Debezium publisher needs of the database: the outbox's publication and its replication slot,
the installation's identity, and the publisher watch's probe."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from automate.db.queries import query
from automate.db.store import Store

__all__ = ["CdcStore", "SlotState", "lsn_value"]


def lsn_value(lsn: str) -> int:
    """A WAL position ``X/Y`` (hexadecimal halves) as one integer, for comparing."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass(frozen=True, slots=True)
class SlotState:
    active: bool  # a reader (Debezium's walsender) streams from it
    reader_pid: int | None
    confirmed: int | None  # the confirmed position (lsn_value), None before the first confirmation
    behind_bytes: int | None  # the server's WAL past the confirmed position


class CdcStore(Store):
    """The publication Debezium reads the outbox's inserts from, the state of its slot, the probe."""

    group = "cdc"

    def _identified(self, name: str, publication: str) -> None:
        statement = sql.SQL(query(self.group, name))
        self.cursor.execute(statement.format(name=sql.Identifier(publication)))

    def ensure_publication(self, name: str) -> bool:
        """Create the publication ``name`` (the outbox and the probe) unless it exists, and add the probe
        to one made before it; returns whether anything was created or added."""
        if self._one("publication_exists", {"name": name}) is None:
            self._identified("create_publication", name)
            return True
        if self._one("publication_has_probe", {"name": name}) is None:
            self._identified("add_probe_to_publication", name)
            return True
        return False

    def drop_publication(self, name: str) -> None:
        self._identified("drop_publication", name)

    def slot_active(self, slot: str) -> bool:
        """Whether a client (Debezium's task) is streaming from replication slot ``slot``."""
        row = self._one("slot_active", {"slot": slot})
        return bool(row is not None and row[0])

    def has_slot(self, slot: str) -> bool:
        """Whether a pgoutput slot ``slot`` exists on this database."""
        return self._one("logical_slot_here", {"slot": slot}) is not None

    def slot_state(self, slot: str) -> SlotState | None:
        """The slot's reader and position; None when there is no such slot."""
        row = self._one("slot_state", {"slot": slot})
        if row is None:
            return None
        active, pid, confirmed, behind = row
        return SlotState(bool(active), pid, None if confirmed is None else lsn_value(confirmed), behind)

    def drop_slot(self, slot: str) -> bool:
        """Drop the slot when no reader holds it; returns whether it was dropped."""
        return self._one("drop_slot", {"slot": slot}) is not None

    def terminate_slot_reader(self, slot: str) -> bool:
        """End the server process streaming the slot; returns whether there was one."""
        return self._one("terminate_slot_reader", {"slot": slot}) is not None

    def ping(self) -> None:
        """A round trip: raises when the connection (and a session lock it held) is gone."""
        self._execute("ping")

    def installation(self) -> tuple[str, str, str]:
        """(cluster system identifier, database oid, database name)."""
        row = self._one("installation")
        assert row is not None  # one row always
        return str(row[0]), str(row[1]), str(row[2])

    def write_probe(self) -> int:
        """Insert a probe row and delete it (the caller commits); returns the WAL position (lsn_value)
        before its insert."""
        row = self._one("probe_position")
        assert row is not None
        seq = self._one("insert_probe")
        assert seq is not None
        self._execute("delete_probe", {"seq": seq[0]})
        return lsn_value(str(row[0]))

    def try_watch_lock(self, key: int) -> bool:
        row = self._one("try_watch_lock", {"key": key})
        return bool(row is not None and row[0])
