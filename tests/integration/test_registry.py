"""Contracts in the registry: registration is idempotent and cached in Postgres; `schemas check` catches a
change that breaks BACKWARD compatibility."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from automate.config import Settings
from automate.contracts import ContractSet
from automate.registry import check_contracts, register_contracts

pytestmark = pytest.mark.integration


def _contracts(root: Path, fields: list[dict[str, object]], name: str) -> ContractSet:
    (root / "automate").mkdir(parents=True, exist_ok=True)
    (root / "events").mkdir(parents=True, exist_ok=True)
    schema = {"type": "record", "name": name, "namespace": "dev.automate.test", "fields": fields}
    (root / "events" / "thing.happened.avsc").write_text(json.dumps(schema))
    return ContractSet(root)


def test_register_is_idempotent_and_caches_ids(db_settings: Settings, tmp_path: Path) -> None:
    name = f"T{uuid.uuid4().hex[:8]}"
    contracts = _contracts(tmp_path, [{"name": "a", "type": "string"}], name)
    with psycopg.connect(db_settings.dsn) as conn:
        first = register_contracts(db_settings, conn, contracts)
        again = register_contracts(db_settings, conn, contracts)
        cached = conn.execute("SELECT schema_id FROM schema_id WHERE subject = %s",
                              (f"dev.automate.test.{name}",)).fetchall()
    assert first == again and len(first) == 1
    assert cached == [(first[0].schema_id,)]


def test_check_flags_a_backward_incompatible_change(db_settings: Settings, tmp_path: Path) -> None:
    name = f"T{uuid.uuid4().hex[:8]}"
    v1 = _contracts(tmp_path / "v1", [{"name": "a", "type": "string"}], name)
    with psycopg.connect(db_settings.dsn) as conn:
        register_contracts(db_settings, conn, v1)
    compatible = _contracts(tmp_path / "v2", [{"name": "a", "type": "string"},
                                              {"name": "b", "type": "int", "default": 0}], name)
    assert check_contracts(db_settings, compatible) == []
    breaking = _contracts(tmp_path / "v3", [{"name": "a", "type": "string"}, {"name": "b", "type": "int"}],
                          name)
    bad = check_contracts(db_settings, breaking)
    assert [b.subject for b in bad] == [f"dev.automate.test.{name}"]


def test_schemas_check_cli_passes_for_the_shipped_contracts(stack: Settings) -> None:
    result = subprocess.run([sys.executable, "-m", "automate.cli", "schemas", "check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "BACKWARD compatible" in result.stderr


def test_emit_cli_prints_the_event_id_and_refuses_bad_json(db_settings: Settings) -> None:
    import os

    env = {**os.environ, "AUTOMATE_DATABASE_URL": db_settings.dsn, "AUTOMATE_PUBLISHER": "relay"}
    ok = subprocess.run([sys.executable, "-m", "automate.cli", "emit", "user.signed_up",
                         "--payload", '{"user_id": "U1"}'],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    event_id = ok.stdout.strip()
    with psycopg.connect(db_settings.dsn) as conn:
        assert conn.execute("SELECT id::text FROM automate_outbox").fetchall() == [(event_id,)]
    bad = subprocess.run([sys.executable, "-m", "automate.cli", "emit", "user.signed_up", "--payload", "{"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 1 and "--payload is not JSON" in bad.stderr
