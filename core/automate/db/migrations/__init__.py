"""Versioned migrations: ``NNNN_name.sql`` files applied in order, each in its own transaction.

``schema.sql`` beside this package is the schema after every migration; a test proves the two agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from automate.errors import MigrationError

__all__ = [
    "Migration",
    "applied_versions",
    "current_publisher",
    "load_migrations",
    "migrate",
    "schema_sql",
    "set_publisher",
]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant will do; it keeps two `automate migrate` runs from interleaving.
_LOCK_KEY = 0x6175746F6D617465 & 0x7FFFFFFFFFFFFFFF

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS automate_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every migration shipped with this code, in version order."""
    found: list[Migration] = []
    for entry in resources.files(__name__).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


def schema_sql() -> str:
    """The full schema as one SQL script (what every migration adds up to)."""
    return resources.files("automate.db").joinpath("schema.sql").read_text(encoding="utf-8")


def applied_versions(conn: psycopg.Connection[Any]) -> set[int]:
    """Versions already applied to the database behind ``conn``."""
    row = conn.execute("SELECT to_regclass('automate_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return set()
    return {r[0] for r in conn.execute("SELECT version FROM automate_migrations")}


def migrate(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Apply the pending migrations; returns those applied. Safe to run concurrently and repeatedly.

    Raises:
        MigrationError: a migration failed (its transaction is rolled back, earlier ones stay), or the
            database has a migration this code does not know (it is newer than this code).
    """
    migrations = load_migrations()
    known = {m.version for m in migrations}
    applied: list[Migration] = []
    # One migrating process at a time, for its whole run (a session lock: it outlives the transactions
    # below): a second one waits, then finds everything applied.
    with conn.transaction():
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        with conn.transaction():
            conn.execute(_BOOKKEEPING)
            done = applied_versions(conn)
        unknown = sorted(done - known)
        if unknown:
            raise MigrationError(
                f"the database has migrations {unknown} that this version of automate does not know; "
                "upgrade automate before migrating"
            )
        for migration in migrations:
            if migration.version in done:
                continue
            try:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO automate_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
            except psycopg.Error as exc:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed and was rolled back: {exc}"
                ) from exc
            applied.append(migration)
    finally:
        if not conn.closed and not conn.broken:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def set_publisher(conn: psycopg.Connection[Any], publisher: str) -> None:
    """Bind the outbox table to one publisher (never both on one table).

    ``debezium``: rows are deleted by a trigger in the transaction that inserted them (Debezium reads
    them from the WAL). ``relay``: rows stay until the relay publishes them; inserts NOTIFY it.
    """
    from automate.db.queries import query

    if publisher not in ("debezium", "relay"):
        raise MigrationError(f"unknown publisher {publisher!r}: use debezium or relay")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(query("outbox", f"use_{publisher}").encode())


def current_publisher(conn: psycopg.Connection[Any]) -> str | None:
    """The publisher the outbox table is bound to, or None before `automate migrate` chose one."""
    from automate.db.queries import query

    row = conn.execute(query("outbox", "current_publisher").encode()).fetchone()
    return None if row is None or row[0] is None else str(row[0])
