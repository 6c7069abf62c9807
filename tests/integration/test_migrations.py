"""The versioned migrations add up to schema.sql, and `migrate` is safe to repeat and to race."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable

import psycopg
import pytest

from automate.db import applied_versions, load_migrations, migrate, schema_sql
from automate.errors import MigrationError
from automate.stack.services.postgres import find_pg_bin

pytestmark = pytest.mark.integration


def _schema_dump(dsn: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    env = {**os.environ, "PGPASSWORD": str(info.pop("password", ""))}
    out = subprocess.run(
        [str(find_pg_bin() / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
         "--exclude-table=automate_migrations", psycopg.conninfo.make_conninfo(**info)],
        capture_output=True, text=True, check=True, env=env,
    ).stdout
    # \restrict / \unrestrict carry a random key per dump (pg_dump 15.14+): not part of the schema.
    skip = ("--", "\\restrict", "\\unrestrict")
    return "\n".join(line for line in out.splitlines() if line and not line.startswith(skip))


def test_all_migrations_equal_schema_file(empty_db: str, make_empty_db: Callable[[], str]) -> None:
    second_empty_db = make_empty_db()
    with psycopg.connect(empty_db) as conn:
        applied = migrate(conn)
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    with psycopg.connect(second_empty_db, autocommit=True) as conn:
        conn.execute(schema_sql().encode())
    migrated, declared = _schema_dump(empty_db), _schema_dump(second_empty_db)
    assert "CREATE TABLE public.automate_outbox" in migrated
    assert migrated == declared


def test_migrate_twice_is_a_no_op(empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        first = migrate(conn)
        second = migrate(conn)
        assert first and second == []
        assert applied_versions(conn) == {m.version for m in load_migrations()}


def test_concurrent_migrate_applies_each_once(empty_db: str) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(empty_db) as conn:
                results.append(len(migrate(conn)))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [0, 0, 0, len(load_migrations())]


def test_database_newer_than_code_is_refused(empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        migrate(conn)
        conn.execute("INSERT INTO automate_migrations (version, name) VALUES (9999, 'from_the_future')")
        conn.commit()
        with pytest.raises(MigrationError, match="9999"):
            migrate(conn)


def test_migrate_cli_reports_unreachable_database(tmp_path: object) -> None:
    from click.testing import CliRunner

    from automate.cli.main import cli
    from automate.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli, ["migrate"], env={"AUTOMATE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "cannot reach the database" in result.output
