"""Kafka client security from the settings: what librdkafka and Java clients get, and what is refused."""

from __future__ import annotations

import base64
import hashlib
import re
import stat
from pathlib import Path

import pytest

from automate.config import Settings
from automate.errors import ConfigurationError
from automate.kafka_security import (
    client_auth,
    create_local_credentials,
    jaas_config,
    java_properties,
    librdkafka_config,
    local_credentials_file,
    read_local_credentials,
    scram_credential_argument,
)
from automate.stack.services.connect import _escaped
from automate.supervise import settings_env

SCRAM = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
         "kafka_sasl_username": "svc-automate", "kafka_sasl_password": "s3cret-pw"}


def _pem(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text(f"-----BEGIN {name.upper()}-----\nMIIB\nAAAA\n-----END {name.upper()}-----\n")
    return path


def test_plaintext_adds_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert librdkafka_config(settings) == {}
    assert java_properties(settings) == {}


def test_sasl_scram_over_tls(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_ssl_ca_location=_pem(tmp_path, "ca"), **SCRAM)  # type: ignore[arg-type]
    assert librdkafka_config(settings) == {
        "security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "svc-automate",
        "sasl.password": "s3cret-pw", "ssl.ca.location": str(tmp_path / "ca")}
    java = java_properties(settings)
    assert java["security.protocol"] == "SASL_SSL"
    assert java["sasl.jaas.config"] == ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                                        'username="svc-automate" password="s3cret-pw";')
    assert java["ssl.truststore.type"] == "PEM"
    assert "s3cret-pw" not in repr(client_auth(settings)) and "s3cret-pw" not in repr(settings)


def test_sasl_plain_uses_the_plain_login_module(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, **{**SCRAM, "kafka_sasl_mechanism": "PLAIN",  # type: ignore[arg-type]
                                          "kafka_security_protocol": "SASL_PLAINTEXT"})
    assert librdkafka_config(settings)["security.protocol"] == "sasl_plaintext"
    assert java_properties(settings)["sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule required")


def test_mutual_tls_passes_the_client_certificate_and_key(tmp_path: Path) -> None:
    cert, key = _pem(tmp_path, "cert"), _pem(tmp_path, "key")
    settings = Settings(home=tmp_path, kafka_security_protocol="SSL",
                        kafka_ssl_ca_location=_pem(tmp_path, "ca"),
                        kafka_ssl_certificate_location=cert, kafka_ssl_key_location=key,
                        kafka_ssl_key_password="key-pw")  # type: ignore[arg-type]
    config = librdkafka_config(settings)
    assert config["security.protocol"] == "ssl"
    assert (config["ssl.certificate.location"], config["ssl.key.location"]) == (str(cert), str(key))
    assert config["ssl.key.password"] == "key-pw"
    java = java_properties(settings)
    assert java["ssl.keystore.type"] == "PEM"
    assert java["ssl.keystore.certificate.chain"] == cert.read_text().strip()
    assert java["ssl.keystore.key"] == key.read_text().strip()
    assert "sasl.jaas.config" not in java


@pytest.mark.parametrize(("overrides", "names"), [
    ({"kafka_security_protocol": "SASL_SSL"},
     ["AUTOMATE_KAFKA_SASL_MECHANISM", "AUTOMATE_KAFKA_SASL_USERNAME", "AUTOMATE_KAFKA_SASL_PASSWORD"]),
    ({**SCRAM, "kafka_sasl_password": None}, ["AUTOMATE_KAFKA_SASL_PASSWORD"]),
    ({**SCRAM, "kafka_sasl_username": ""}, ["AUTOMATE_KAFKA_SASL_USERNAME"]),
    ({**SCRAM, "kafka_security_protocol": "PLAINTEXT"}, ["SASL_SSL"]),
    ({"kafka_ssl_ca_location": "/etc/hosts"}, ["use SSL or SASL_SSL"]),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_location": "/no/such/ca.pem"},
     ["AUTOMATE_KAFKA_SSL_CA_LOCATION", "/no/such/ca.pem"]),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_key_location": "/etc/hosts"},
     ["AUTOMATE_KAFKA_SSL_CERTIFICATE_LOCATION"]),
])
def test_settings_that_cannot_work_are_refused_with_the_setting_named(
        tmp_path: Path, overrides: dict[str, object], names: list[str]) -> None:
    settings = Settings(home=tmp_path, **overrides)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as refused:
        librdkafka_config(settings)
    for name in names:
        assert name in str(refused.value)
    assert "s3cret-pw" not in str(refused.value)


def test_local_scram_credentials_are_generated_once_and_private(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_local_auth="scram")
    with pytest.raises(ConfigurationError, match="automate up kafka"):
        read_local_credentials(settings)
    made = create_local_credentials(settings)
    assert create_local_credentials(settings) == made  # read back, not made again
    assert stat.S_IMODE(local_credentials_file(settings).stat().st_mode) == 0o600
    assert made.user_password not in repr(made) and made.admin_password != made.user_password
    assert librdkafka_config(settings) == {
        "security.protocol": "sasl_plaintext", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "automate", "sasl.password": made.user_password}
    assert librdkafka_config(settings, admin=True)["sasl.username"] == "admin"
    # A username of the operator's own wins over the local stack's.
    explicit = Settings(home=tmp_path, kafka_local_auth="scram", **SCRAM)  # type: ignore[arg-type]
    assert librdkafka_config(explicit)["sasl.username"] == "svc-automate"


def test_the_storage_format_argument_holds_no_password() -> None:
    argument = scram_credential_argument("SCRAM-SHA-512", "automate", "pa55word")
    assert "pa55word" not in argument
    found = re.fullmatch(r'SCRAM-SHA-512=\[name=automate,iterations=(\d+),salt="([^"]+)",'
                         r'saltedpassword="([^"]+)"\]', argument)
    assert found is not None
    iterations, salt = int(found[1]), base64.b64decode(found[2])
    # RFC 5802: SaltedPassword := Hi(password, salt, i), PBKDF2 with HMAC-SHA-512 here.
    assert base64.b64decode(found[3]) == hashlib.pbkdf2_hmac("sha512", b"pa55word", salt, iterations)
    assert iterations >= 4096  # Kafka's minimum


def test_a_password_java_cannot_quote_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        jaas_config("PLAIN", "user", 'pass"; evil=true')


def test_connect_properties_escape_multi_line_values() -> None:
    assert _escaped("a\\b\nc") == "a\\\\b\\nc"


def test_child_workers_get_the_same_kafka_security(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = settings_env(Settings(home=tmp_path, kafka_local_auth="scram"))
    assert local["AUTOMATE_KAFKA_LOCAL_AUTH"] == "scram" and "AUTOMATE_KAFKA_SASL_PASSWORD" not in local
    parent = Settings(home=tmp_path, kafka_ssl_ca_location=_pem(tmp_path, "ca"), **SCRAM)  # type: ignore[arg-type]
    for name, value in settings_env(parent).items():
        monkeypatch.setenv(name, value)
    assert librdkafka_config(Settings()) == librdkafka_config(parent)


def test_a_command_refuses_kafka_settings_that_cannot_work(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from automate.cli import cli
    from automate.config import get_settings

    monkeypatch.setenv("AUTOMATE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("AUTOMATE_KAFKA_SASL_PASSWORD", "s3cret-pw")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["rules", "test", "true"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "AUTOMATE_KAFKA_SASL_USERNAME" in result.output and "s3cret-pw" not in result.output


def test_the_local_broker_keeps_the_mode_it_was_formatted_in(tmp_path: Path) -> None:
    from automate.errors import StackError
    from automate.stack.base import Layout
    from automate.stack.services.kafka import Kafka

    scram = Settings(home=tmp_path, kafka_local_auth="scram")
    (tmp_path / "data" / "kafka").mkdir(parents=True)
    (tmp_path / "data" / "kafka" / "meta.properties").write_text("cluster.id=x\n")
    with pytest.raises(StackError, match="formatted without SCRAM users"):
        Kafka(scram, Layout(tmp_path)).prepare()
    create_local_credentials(scram)
    # Once it has SCRAM users and ACLs, it is not started open (PLAINTEXT, no authorizer) by mistake.
    with pytest.raises(StackError, match="set AUTOMATE_KAFKA_LOCAL_AUTH=scram"):
        Kafka(Settings(home=tmp_path), Layout(tmp_path)).prepare()
