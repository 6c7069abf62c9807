"""Settings: environment, TOML file, defaults, and the effective endpoints they give."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from automate.config import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("AUTOMATE_"):
            monkeypatch.delenv(key)


def test_defaults_point_at_the_local_stack() -> None:
    s = Settings()
    assert s.dsn == "postgresql://automate:automate@127.0.0.1:25432/automate"
    assert s.bootstrap_servers == "127.0.0.1:29092"
    assert s.registry_url == "http://127.0.0.1:28080/apis/ccompat/v7"
    assert s.topic("events") == "automate.events"
    assert s.home.is_absolute() and s.home.name == ".automate"


def test_environment_overrides_ports_and_external_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMATE_KAFKA_PORT", "19092")
    monkeypatch.setenv("AUTOMATE_DATABASE_URL", "postgresql://u:p@db.internal/app")
    monkeypatch.setenv("AUTOMATE_SCHEMA_REGISTRY_URL", "http://registry:8081")
    s = Settings()
    assert s.bootstrap_servers == "127.0.0.1:19092"
    assert s.dsn == "postgresql://u:p@db.internal/app"
    assert s.registry_url == "http://registry:8081"


def test_toml_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "automate.toml"
    toml.write_text('tenant = "acme"\nkafka_bootstrap = "kafka-1:9092"\nregistry_port = 1234\n')
    monkeypatch.setenv("AUTOMATE_CONFIG", str(toml))
    monkeypatch.setenv("AUTOMATE_REGISTRY_PORT", "4321")
    s = Settings()
    assert s.tenant == "acme"
    assert s.bootstrap_servers == "kafka-1:9092"
    assert s.registry_port == 4321


def test_invalid_values_are_refused_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMATE_PUBLISHER", "carrier-pigeon")
    with pytest.raises(ValidationError, match="publisher"):
        Settings()


def test_password_is_not_in_the_repr() -> None:
    s = Settings(postgres_password="s3cr3t-value")
    assert "s3cr3t-value" not in repr(s)
    assert "s3cr3t-value" in s.dsn
