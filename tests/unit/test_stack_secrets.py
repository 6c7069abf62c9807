"""The local stack's credential files and the outbox connector's password placeholder, without services
(the integration side, with Postgres and Connect running: tests/integration/test_stack_credentials.py)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from automate.config import Settings
from automate.errors import ConfigurationError, ErrorCodes
from automate.stack.base import Layout
from automate.stack.cdc import connector_config, ensure_outbox_connector
from automate.stack.credentials import (
    connect_secrets_dir,
    java_properties_value,
    outbox_password_file,
    password_placeholder,
    write_private,
)

CONNECTOR = "automate.outbox.automate"  # the default installation's (prefix automate, database automate)

NASTY = ' pa"ss\\wo:rd=#!\n\tünï😀'


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_is_0600_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "secret.properties"
    assert write_private(path, "a=1\n") is True
    assert _mode(path) == 0o600 and path.read_text() == "a=1\n"
    assert write_private(path, "a=1\n") is False  # unchanged: not rewritten
    path.chmod(0o644)
    assert write_private(path, "a=1\n") is True  # a loosened mode is repaired
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.properties"]  # no temporary file left


def test_java_properties_value_is_plain_ascii_with_every_special_escaped() -> None:
    escaped = java_properties_value(NASTY)
    assert escaped.isascii() and "\n" not in escaped and "\t" not in escaped
    assert escaped.startswith("\\ pa\"ss\\\\wo\\:rd\\=\\#\\!\\n\\t")
    assert escaped.endswith("\\u00fcn\\u00ef\\ud83d\\ude00")


def test_connector_config_holds_the_placeholder_and_no_password(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, postgres_password=SecretStr(NASTY))
    config = connector_config(settings)
    placeholder = f"${{file:{outbox_password_file(Layout(tmp_path), CONNECTOR)}:database.password}}"
    assert config["database.password"] == placeholder
    body = json.dumps(config)
    assert "pa\\\"ss" not in body and "pa\"ss" not in body and "wo:rd" not in body
    assert config["database.user"] == "automate" and config["database.hostname"] == "127.0.0.1"
    assert config["transforms.outbox.route.topic.replacement"] == "${routedByValue}"


def test_an_external_connect_needs_a_placeholder(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, connect_url="http://connect.invalid:8083",
                        database_url="postgresql://app:s3cret@db.internal/app")
    with pytest.raises(ConfigurationError) as caught:
        ensure_outbox_connector(settings)  # refused before anything is sent
    assert caught.value.code == ErrorCodes.CONNECT_CONFIG_PROVIDER
    assert "AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER" in str(caught.value) and "s3cret" not in str(caught.value)


def test_the_placeholder_setting_must_be_a_reference_not_the_password(tmp_path: Path) -> None:
    ok = Settings(home=tmp_path, connect_url="http://connect.invalid:8083",
                  connect_password_placeholder="${vault:secret/automate:db_password}")
    assert password_placeholder(ok, "c") == "${vault:secret/automate:db_password}"
    literal = Settings(home=tmp_path, connect_url="http://connect.invalid:8083",
                       connect_password_placeholder="s3cret")
    with pytest.raises(ConfigurationError) as caught:
        password_placeholder(literal, "c")
    assert caught.value.code == ErrorCodes.CONNECT_CONFIG_PROVIDER and "s3cret" not in str(caught.value)


def test_a_local_worker_without_the_provider_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    props = tmp_path / "conf" / "connect" / "connect-standalone.properties"
    props.parent.mkdir(parents=True)
    props.write_text("bootstrap.servers=127.0.0.1:1\n")  # what an older version rendered
    settings = Settings(home=tmp_path, connect_port=1)
    with pytest.raises(ConfigurationError) as caught:
        ensure_outbox_connector(settings)
    assert caught.value.code == ErrorCodes.CONNECT_CONFIG_PROVIDER
    assert "automate down connect && automate up connect" in str(caught.value)
    assert not connect_secrets_dir(Layout(tmp_path)).exists()
