"""Database access: connections to the state database and the versioned schema."""

from __future__ import annotations

from automate.db.connection import connect, dsn_of_database
from automate.db.migrations import (
    Migration,
    applied_versions,
    current_publisher,
    load_migrations,
    migrate,
    schema_sql,
    set_publisher,
)

__all__ = [
    "Migration",
    "applied_versions",
    "connect",
    "current_publisher",
    "dsn_of_database",
    "load_migrations",
    "migrate",
    "schema_sql",
    "set_publisher",
]
