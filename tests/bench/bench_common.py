"""What the benchmarks share: a fresh, migrated database of their own on the local stack."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from automate.config import Settings
from automate.db import migrate, set_publisher
from automate.registry import register_contracts


def fresh_db(base: Settings, name: str, **overrides: Any) -> Settings:
    """Settings for database ``name``, dropped and created anew, migrated, contracts registered."""
    with psycopg.connect(base.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(base.dsn)
    info["dbname"] = name
    settings = Settings(**{**base.model_dump(), "database_url": psycopg.conninfo.make_conninfo(**info),
                           **overrides})
    with psycopg.connect(settings.dsn) as conn:
        migrate(conn)
        set_publisher(conn, settings.publisher)
        register_contracts(settings, conn)
    return settings


def emit_report(report: dict[str, Any], path: str | None) -> None:
    """Print the report as JSON, and write it to ``path`` too when given."""
    print(json.dumps(report, indent=2))
    if path:
        with open(path, "w") as fh:
            json.dump(report, fh, indent=2)
