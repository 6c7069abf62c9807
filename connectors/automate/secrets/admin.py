"""Managing the ``$secret:`` store: set, list, delete, and rotating its keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from automate.config import Settings
from automate.db import connect
from automate.db.secrets import SecretRow, SecretStore
from automate.errors import ConfigurationError, UsageError
from automate.secrets.keys import add_primary_key, key_file, load_keys, write_keys

__all__ = ["Rotation", "SecretInfo", "delete_secret", "list_secrets", "rotate_keys", "set_secret"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_SCOPE = re.compile(r"^(automation|connector):[a-z0-9][a-z0-9_.\-]{0,62}$")


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """A secret as it may be shown: never its value."""

    name: str
    scopes: list[str]
    key_id: str
    updated_at: datetime


def set_secret(settings: Settings, name: str, value: str, *, scopes: list[str] | None = None,
               tenant: str | None = None) -> None:
    """Store ``value`` as ``$secret:<name>`` of ``tenant``, encrypted with the primary key, readable by
    ``scopes`` (``automation:<slug>``, ``connector:<key>``; none: any reader of the tenant).

    Raises:
        UsageError: A bad name, scope or empty value.
        ConfigurationError: No secret key.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise UsageError(f"{name!r} is not a secret name: 1-200 letters, digits, '_', '.', '-'")
    bad = [s for s in scopes or [] if not _SCOPE.match(s)]
    if bad:
        raise UsageError(f"{bad[0]!r} is not a scope: write automation:<slug> or connector:<key>")
    if not value:
        raise UsageError("a secret's value must not be empty")
    keys = load_keys(settings)
    row = SecretRow(keys.encrypt(value), keys.primary_id, sorted(set(scopes or [])))
    with connect(settings) as conn:
        SecretStore(conn).put(tenant or settings.tenant, name, row)


def delete_secret(settings: Settings, name: str, *, tenant: str | None = None) -> bool:
    with connect(settings) as conn:
        return SecretStore(conn).delete(tenant or settings.tenant, name)


def list_secrets(settings: Settings, *, tenant: str | None = None) -> list[SecretInfo]:
    with connect(settings) as conn:
        return [SecretInfo(*row) for row in SecretStore(conn).names(tenant or settings.tenant)]


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation did: the key everything is now encrypted with, how many secrets it re-encrypted,
    and the keys it took out of the key file (empty when the keys come from AUTOMATE_SECRET_KEYS)."""

    primary: str
    reencrypted: int
    retired: list[str]


def rotate_keys(settings: Settings, *, new_key: bool = True) -> Rotation:
    """Re-encrypt every secret of every tenant under the primary key, in one transaction.

    With the key file (the default for the local stack) and ``new_key``, a new key is made first; once
    the secrets are re-encrypted under it, the old keys leave the file. With ``AUTOMATE_SECRET_KEYS``,
    put the new key first there yourself; the old ones can go once this has run.
    """
    from_file = settings.secret_keys is None
    path = key_file(settings)
    if from_file and new_key:
        if not path.exists():
            raise ConfigurationError(f"no secret key file at {path} to rotate")
        add_primary_key(path)
    keys = load_keys(settings)
    with connect(settings) as conn, conn.transaction():
        store = SecretStore(conn)
        rows = store.lock_all()
        for ident, ciphertext, key_id in rows:
            if key_id != keys.primary_id:
                store.reencrypt(ident, keys.rotate(ciphertext), keys.primary_id)
        reencrypted = sum(1 for _ident, _ciphertext, key_id in rows if key_id != keys.primary_id)
    retired: list[str] = []
    if from_file and len(keys.ids) > 1:
        lines = [line.strip() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
        write_keys(path, [lines[0].encode()])
        retired = keys.ids[1:]
    return Rotation(keys.primary_id, reencrypted, retired)
