"""Managing the ``$secret:`` store: set, list, delete, and rotating its keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automate.config import Settings
from automate.db import connect
from automate.db.secrets import SecretRow, SecretStore
from automate.errors import ConfigurationError, UsageError
from automate.secrets.keys import add_primary_key, key_file, load_keys, remove_key, retire_keys

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
    with connect(settings) as conn:
        store = SecretStore(conn)
        store.share_rotation_lock()  # no rotation between reading the keys and writing
        keys = load_keys(settings)
        store.put(tenant or settings.tenant, name,
                  SecretRow(keys.encrypt(value), keys.primary_id, sorted(set(scopes or []))))


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
    put the new key first there yourself; the old ones can go once this has run. One rotation runs at a
    time, and no secret is written while it runs (writers wait for it).

    Raises:
        ConfigurationError: No key file to rotate, or a secret no configured key opens (nothing changes).
    """
    from_file = settings.secret_keys is None
    with connect(settings) as conn:
        store = SecretStore(conn)
        store.lock_rotation()
        conn.commit()
        try:
            return _rotate(settings, store, conn, from_file=from_file, new_key=new_key)
        finally:
            conn.rollback()
            store.unlock_rotation()
            conn.commit()


def _rotate(settings: Settings, store: SecretStore, conn: Any, *, from_file: bool,
            new_key: bool) -> Rotation:
    path = key_file(settings)
    added: str | None = None
    if from_file and new_key:
        if not path.exists():
            raise ConfigurationError(f"no secret key file at {path} to rotate")
        added = add_primary_key(path)
    try:
        keys = load_keys(settings)
        with conn.transaction():
            rows = store.lock_all()
            stale = [(ident, tenant, name, ciphertext) for ident, tenant, name, ciphertext, key_id in rows
                     if key_id != keys.primary_id]
            for ident, tenant, name, ciphertext in stale:
                store.reencrypt(ident, keys.rotate_one(ciphertext, f"{tenant}/{name}"), keys.primary_id)
    except BaseException:
        if added is not None:  # nothing was re-encrypted under it: the file is as it was
            remove_key(path, added)
        raise
    retired: list[str] = []
    if from_file and len(keys.ids) > 1 and store.count_under_other_keys(keys.primary_id) == 0:
        retired = retire_keys(path, keep=keys.primary_id)
    return Rotation(keys.primary_id, len(stale), retired)
