"""How every Kafka client of the deployment authenticates, from the ``AUTOMATE_KAFKA_*`` settings.

One place turns the settings into client configuration: librdkafka's (the relay, the processors, the
runtime, the retry worker, the admin tools, through :mod:`automate.transport`) and the Java clients'
(Kafka Connect's worker, its producer, consumer and admin). Supported: PLAINTEXT, SSL (server verified
against ``kafka_ssl_ca_location``; mTLS with a client certificate and key, PEM), SASL/PLAIN and
SASL/SCRAM-SHA-256/512, over PLAINTEXT or SSL.

The local stack's SCRAM mode (``AUTOMATE_KAFKA_LOCAL_AUTH=scram``) keeps its generated credentials in
``<home>/conf/kafka/credentials.json`` (readable by its owner only): an ``admin`` super user (the broker
itself, ACL set-up) and the ``automate`` user every client connects as unless a username is configured.
No password is ever logged or part of an error message. Imports no Kafka client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from automate.config import Settings
from automate.errors import ConfigurationError

__all__ = [
    "LOCAL_ADMIN",
    "LOCAL_MECHANISM",
    "LOCAL_USER",
    "ClientAuth",
    "LocalCredentials",
    "check_settings",
    "client_auth",
    "create_local_credentials",
    "jaas_config",
    "java_properties",
    "librdkafka_config",
    "local_credentials_file",
    "read_local_credentials",
    "scram_credential_argument",
]

LOCAL_ADMIN = "admin"
LOCAL_USER = "automate"
LOCAL_MECHANISM = "SCRAM-SHA-512"
_SCRAM_ITERATIONS = 8192
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


@dataclass(frozen=True, slots=True)
class LocalCredentials:
    """The local SCRAM stack's passwords (kept out of ``repr``)."""

    admin_password: str = field(repr=False)
    user_password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ClientAuth:
    """What a client presents to the brokers: the effective protocol, SASL identity and TLS files."""

    protocol: str
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_location: Path | None = None
    certificate_location: Path | None = None
    key_location: Path | None = None
    key_password: str | None = field(default=None, repr=False)

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def ssl(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")


def local_credentials_file(settings: Settings) -> Path:
    return settings.home / "conf" / "kafka" / "credentials.json"


def create_local_credentials(settings: Settings) -> LocalCredentials:
    """The local SCRAM stack's credentials: read when the file exists, else generated into it (0600)."""
    path = local_credentials_file(settings)
    if path.is_file():
        return read_local_credentials(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    made = LocalCredentials(admin_password=secrets.token_urlsafe(24), user_password=secrets.token_urlsafe(24))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"mechanism": LOCAL_MECHANISM, LOCAL_ADMIN: made.admin_password,
                   LOCAL_USER: made.user_password}, out)
    return made


def read_local_credentials(settings: Settings) -> LocalCredentials:
    """The local SCRAM stack's credentials, as ``automate up`` generated them.

    Raises:
        ConfigurationError: The file is missing or unreadable (the broker was not started in SCRAM mode).
    """
    path = local_credentials_file(settings)
    try:
        stored = json.loads(path.read_text())
        return LocalCredentials(admin_password=str(stored[LOCAL_ADMIN]),
                                user_password=str(stored[LOCAL_USER]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"AUTOMATE_KAFKA_LOCAL_AUTH=scram but {path} cannot be read ({type(exc).__name__}): start the "
            "local broker in SCRAM mode with `automate up kafka`, or set "
            "AUTOMATE_KAFKA_SASL_USERNAME and _PASSWORD"
        ) from None


def client_auth(settings: Settings, *, admin: bool = False) -> ClientAuth:
    """The effective client security of ``settings``: the explicit ``kafka_*`` settings, else, in local SCRAM
    mode, the local stack's ``automate`` user (``admin=True``: its super user).

    Raises:
        ConfigurationError: The settings cannot work (SASL without mechanism, username or password; a TLS
            file that does not exist; a client key without its certificate).
    """
    local = settings.kafka_local_auth == "scram" and settings.kafka_sasl_username is None
    if local or (admin and settings.kafka_local_auth == "scram"):
        creds = read_local_credentials(settings)
        return ClientAuth(protocol="SASL_PLAINTEXT", mechanism=LOCAL_MECHANISM,
                          username=LOCAL_ADMIN if admin else LOCAL_USER,
                          password=creds.admin_password if admin else creds.user_password)
    password = settings.kafka_sasl_password
    key_password = settings.kafka_ssl_key_password
    auth = ClientAuth(
        protocol=settings.kafka_security_protocol,
        mechanism=settings.kafka_sasl_mechanism,
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password is not None else None,
        ca_location=settings.kafka_ssl_ca_location,
        certificate_location=settings.kafka_ssl_certificate_location,
        key_location=settings.kafka_ssl_key_location,
        key_password=key_password.get_secret_value() if key_password is not None else None,
    )
    _check(auth)
    return auth


def check_settings(settings: Settings) -> None:
    """Refuse Kafka security settings that cannot work, at a command's start (the local SCRAM stack's
    credentials are not read: ``automate up`` makes them).

    Raises:
        ConfigurationError: As :func:`client_auth`.
    """
    if settings.kafka_local_auth != "scram" or settings.kafka_sasl_username is not None:
        client_auth(settings)


def _check(auth: ClientAuth) -> None:
    if auth.sasl:
        missing = [name for name, value in (("MECHANISM", auth.mechanism), ("USERNAME", auth.username),
                                             ("PASSWORD", auth.password)) if not value]
        if missing:
            raise ConfigurationError(
                f"AUTOMATE_KAFKA_SECURITY_PROTOCOL={auth.protocol} needs "
                + ", ".join(f"AUTOMATE_KAFKA_SASL_{m}" for m in missing))
    elif auth.username or auth.mechanism:
        raise ConfigurationError(
            f"AUTOMATE_KAFKA_SASL_* is set but AUTOMATE_KAFKA_SECURITY_PROTOCOL={auth.protocol}: use "
            "SASL_SSL (or SASL_PLAINTEXT on a trusted network)")
    tls = (("CA_LOCATION", auth.ca_location), ("CERTIFICATE_LOCATION", auth.certificate_location),
           ("KEY_LOCATION", auth.key_location))
    if not auth.ssl and any(path is not None for _name, path in tls):
        raise ConfigurationError(
            f"AUTOMATE_KAFKA_SSL_* is set but AUTOMATE_KAFKA_SECURITY_PROTOCOL={auth.protocol}: "
            "use SSL or SASL_SSL")
    for name, path in tls:
        if path is not None and not path.is_file():
            raise ConfigurationError(f"AUTOMATE_KAFKA_SSL_{name}: no file at {path}")
    if (auth.certificate_location is None) != (auth.key_location is None):
        raise ConfigurationError("mTLS needs both AUTOMATE_KAFKA_SSL_CERTIFICATE_LOCATION and "
                                 "AUTOMATE_KAFKA_SSL_KEY_LOCATION")


def librdkafka_config(settings: Settings, *, admin: bool = False) -> dict[str, str]:
    """librdkafka settings for :func:`client_auth` (empty for PLAINTEXT)."""
    auth = client_auth(settings, admin=admin)
    config: dict[str, str] = {}
    if auth.protocol != "PLAINTEXT":
        config["security.protocol"] = auth.protocol.lower()
    if auth.sasl:
        config.update({"sasl.mechanism": str(auth.mechanism), "sasl.username": str(auth.username),
                       "sasl.password": str(auth.password)})
    if auth.ca_location is not None:
        config["ssl.ca.location"] = str(auth.ca_location)
    if auth.certificate_location is not None and auth.key_location is not None:
        config["ssl.certificate.location"] = str(auth.certificate_location)
        config["ssl.key.location"] = str(auth.key_location)
    if auth.key_password:
        config["ssl.key.password"] = auth.key_password
    return config


def jaas_config(mechanism: str, username: str, password: str) -> str:
    """A Java client's ``sasl.jaas.config`` line."""
    for value in (username, password):
        if '"' in value or "\\" in value or "\n" in value:
            raise ConfigurationError("a Kafka SASL username or password with a quote, backslash or newline "
                                     "cannot be passed to Java clients")
    return f'{_LOGIN_MODULES[mechanism]} required username="{username}" password="{password}";'


def java_properties(settings: Settings) -> dict[str, str]:
    """Kafka Java client properties for :func:`client_auth` (Kafka Connect's worker; prefix them with
    ``producer.``, ``consumer.``, ``admin.`` for its clients; empty for PLAINTEXT). TLS files are PEM:
    the CA as a PEM trust store, the client certificate and key inline (Java's PEM key store reads no
    separate files)."""
    auth = client_auth(settings)
    if auth.protocol == "PLAINTEXT":
        return {}
    props: dict[str, str] = {"security.protocol": auth.protocol}
    if auth.sasl:
        props["sasl.mechanism"] = str(auth.mechanism)
        props["sasl.jaas.config"] = jaas_config(str(auth.mechanism), str(auth.username), str(auth.password))
    if auth.ca_location is not None:
        props.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": str(auth.ca_location)})
    if auth.certificate_location is not None and auth.key_location is not None:
        props.update({"ssl.keystore.type": "PEM",
                      "ssl.keystore.certificate.chain": auth.certificate_location.read_text().strip(),
                      "ssl.keystore.key": auth.key_location.read_text().strip()})
        if auth.key_password:
            props["ssl.key.password"] = auth.key_password
    return props


def scram_credential_argument(mechanism: str, username: str, password: str) -> str:
    """``kafka-storage format --add-scram`` value holding the salted password only (the password itself
    never appears on a command line)."""
    algorithm = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac(algorithm, password.encode(), salt, _SCRAM_ITERATIONS)
    return (f'{mechanism}=[name={username},iterations={_SCRAM_ITERATIONS},'
            f'salt="{base64.b64encode(salt).decode()}",saltedpassword="{base64.b64encode(salted).decode()}"]')
