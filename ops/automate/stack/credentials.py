"""Credentials on disk for the local stack: files and folders only their owner can read, and the database
password of the Debezium connector kept in a properties file that Kafka Connect reads through its
``FileConfigProvider``, so that the connector's JSON and Connect's REST answers hold a placeholder only."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Final

import psycopg

from automate.config import Settings
from automate.errors import ConfigurationError, ErrorCodes
from automate.stack.base import Layout

__all__ = [
    "PASSWORD_KEY",
    "PROVIDER",
    "check_password_setup",
    "connect_secrets_dir",
    "has_file_provider",
    "is_placeholder",
    "java_properties_value",
    "outbox_password_file",
    "password_placeholder",
    "private_dir",
    "store_outbox_password",
    "write_private",
]

PROVIDER: Final = "file"  # the alias of the FileConfigProvider in the worker's properties
PASSWORD_KEY: Final = "database.password"  # the key in outbox_password_file


def private_dir(path: Path, *, owner: tuple[int, int] | None = None) -> Path:
    """``path`` made (with its parents) and set to mode 0700, owned by ``owner`` (uid, gid) when given."""
    path.mkdir(parents=True, exist_ok=True)
    if owner is not None:
        os.chown(path, *owner)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str, *, owner: tuple[int, int] | None = None) -> bool:
    """Write ``text`` to ``path`` with mode 0600 from the first byte (never readable by others, not even
    for a moment), atomically: a reader sees the old or the new content. Returns False when the file
    already held exactly ``text`` (and had mode 0600), True when it was written."""
    try:
        stat = path.stat()
        same_owner = owner is None or (stat.st_uid, stat.st_gid) == owner
        if same_owner and (stat.st_mode & 0o777) == 0o600 and path.read_text() == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        if owner is not None:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


_SPECIAL: Final = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f",
                   "=": "\\=", ":": "\\:", "#": "\\#", "!": "\\!"}


def java_properties_value(value: str) -> str:
    """``value`` escaped for a ``java.util.Properties`` file, in plain ASCII: what ``Properties.load``
    reads back is exactly ``value``, whatever it holds (quotes, backslashes, ``=``, ``#``, line breaks,
    leading spaces, non-ASCII characters as ``\\uXXXX``, astral ones as a surrogate pair)."""
    out: list[str] = []
    for i, char in enumerate(value):
        if char in _SPECIAL:
            out.append(_SPECIAL[char])
        elif char == " " and i == 0:
            out.append("\\ ")  # a leading space would be skipped as the separator's whitespace
        elif " " <= char <= "~":
            out.append(char)
        else:
            data = char.encode("utf-16-be", "surrogatepass")
            out += [f"\\u{int.from_bytes(data[j:j + 2], 'big'):04x}" for j in range(0, len(data), 2)]
    return "".join(out)


def connect_secrets_dir(layout: Layout) -> Path:
    """The only folder the local Connect worker's FileConfigProvider may read (``allowed.paths``)."""
    return layout.conf("connect") / "secrets"


def outbox_password_file(layout: Layout, connector: str) -> Path:
    """The properties file holding the database password of outbox connector ``connector`` (key
    ``database.password``): one per connector, as installations side by side may log in differently."""
    return connect_secrets_dir(layout) / f"{connector}.properties"


def has_file_provider(layout: Layout) -> bool:
    """True when the local Connect worker's properties (what it was started with: they are rendered only
    right before a start) configure the ``file`` provider."""
    try:
        text = (layout.conf("connect") / "connect-standalone.properties").read_text()
    except OSError:
        return False
    return f"config.providers={PROVIDER}" in text.splitlines()


_PLACEHOLDER: Final = re.compile(r"\$\{[A-Za-z0-9_.-]+:[^}]*\}")


def is_placeholder(text: str) -> bool:
    """True when ``text`` is one config-provider reference, ``${provider:[path:]key}``."""
    return _PLACEHOLDER.fullmatch(text) is not None


def password_placeholder(settings: Settings, connector: str) -> str:
    """What connector ``connector``'s ``database.password`` holds: the configured placeholder, or the local
    worker's ``${file:<home>/conf/connect/secrets/<connector>.properties:database.password}``.

    Raises:
        ConfigurationError: (code ``connect.config_provider``) Connect is external and no placeholder is
            configured, or the configured one is not a ``${provider:...}`` reference.
    """
    configured = settings.connect_password_placeholder
    if configured is not None:
        if not is_placeholder(configured):
            raise ConfigurationError(
                "AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER must be one config provider reference such as "
                "${file:/etc/connect/automate.properties:password}, never the password itself",
                code=ErrorCodes.CONNECT_CONFIG_PROVIDER,
            )
        return configured
    if settings.connect_url is not None:
        raise ConfigurationError(
            "AUTOMATE_CONNECT_URL is set but AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER is not: configure a "
            "config provider on that Connect worker (e.g. config.providers=file, config.providers.file.class="
            "org.apache.kafka.common.config.provider.FileConfigProvider), put the database password where "
            "it reads, and set AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER to its reference (docs/outbox.md)",
            code=ErrorCodes.CONNECT_CONFIG_PROVIDER,
        )
    return f"${{{PROVIDER}:{outbox_password_file(Layout(settings.home), connector)}:{PASSWORD_KEY}}}"


def check_password_setup(settings: Settings) -> None:
    """Raise before anything is sent when no config provider can keep the password out of a connector's
    configuration: an external Connect without a placeholder, or a local worker without the provider.

    Raises:
        ConfigurationError: (code ``connect.config_provider``) the message names the fix.
    """
    password_placeholder(settings, "check")
    layout = Layout(settings.home)
    if settings.connect_password_placeholder is None and not has_file_provider(layout):
        raise ConfigurationError(
            f"the Kafka Connect worker of {layout.home} was started without the file config provider that "
            "keeps the database password out of the connector's configuration (started by an older version, "
            "or not by `automate up`): restart it with `automate down connect && automate up connect`, or "
            "set AUTOMATE_CONNECT_URL and AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER for a Connect of your own",
            code=ErrorCodes.CONNECT_CONFIG_PROVIDER,
        )


def store_outbox_password(settings: Settings, connector: str) -> bool:
    """Write the database password where the local worker's FileConfigProvider reads it for ``connector``
    (0600, in a 0700 folder). Returns True when it changed. Nothing to write when the placeholder is the
    operator's."""
    check_password_setup(settings)
    if settings.connect_password_placeholder is not None:
        return False
    layout = Layout(settings.home)
    password = str(psycopg.conninfo.conninfo_to_dict(settings.dsn).get("password") or "")
    private_dir(connect_secrets_dir(layout))
    text = (
        "# An outbox connector's database password, read by Connect's FileConfigProvider "
        "(automate.stack.cdc).\n"
        f"{PASSWORD_KEY}={java_properties_value(password)}\n"
    )
    return write_private(outbox_password_file(layout, connector), text)
