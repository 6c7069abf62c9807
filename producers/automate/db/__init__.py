"""Database access: connections to the state database and the versioned schema."""

from __future__ import annotations

from automate.db.connection import connect
from automate.db.migrations import Migration, applied_versions, load_migrations, migrate, schema_sql

__all__ = ["Migration", "applied_versions", "connect", "load_migrations", "migrate", "schema_sql"]
