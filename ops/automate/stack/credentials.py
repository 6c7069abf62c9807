"""Credentials on disk for the local stack: files and folders only their owner can read, and the database
password of the Debezium connector kept in a properties file that Kafka Connect reads through its
``FileConfigProvider``, so that the connector's JSON and Connect's REST answers hold a placeholder only."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Final

from automate.stack.base import Layout

__all__ = [
    "PASSWORD_KEY",
    "PROVIDER",
    "connect_secrets_dir",
    "has_file_provider",
    "is_placeholder",
    "java_properties_value",
    "outbox_password_file",
    "private_dir",
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


def outbox_password_file(layout: Layout) -> Path:
    """The properties file holding the outbox connector's database password (key ``database.password``)."""
    return connect_secrets_dir(layout) / "outbox.properties"


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
