"""Secrets of the ``$secret:`` backend (table ``secret``): ciphertexts and scopes, never values."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from automate.db.store import Store

__all__ = ["ROTATION_LOCK", "SecretRow", "SecretStore"]

ROTATION_LOCK = 0x7365637265747321 & 0x7FFFFFFFFFFFFFFF
"""The advisory lock a key rotation holds exclusively and every secret write holds shared."""


class SecretRow(NamedTuple):
    ciphertext: bytes
    key_id: str  # which key encrypted it
    scopes: list[str]  # 'automation:<slug>', 'connector:<key>'; empty: any reader of the tenant


class SecretStore(Store):
    """Named queries of the secret table."""

    group = "secrets"

    def get(self, tenant: str, name: str) -> SecretRow | None:
        row = self._one("get_secret", {"tenant": tenant, "name": name})
        return None if row is None else SecretRow(bytes(row[0]), str(row[1]), list(row[2]))

    def put(self, tenant: str, name: str, row: SecretRow) -> None:
        """Create or replace the secret ``name`` of ``tenant``."""
        self._execute("put_secret", {"id": str(uuid.uuid4()), "tenant": tenant, "name": name,
                                     "ciphertext": row.ciphertext, "key_id": row.key_id,
                                     "scopes": list(row.scopes)})

    def delete(self, tenant: str, name: str) -> bool:
        return self._count("delete_secret", {"tenant": tenant, "name": name}) == 1

    def names(self, tenant: str) -> list[tuple[str, list[str], str, datetime]]:
        """(name, scopes, key id, updated at) of every secret of ``tenant``: never a value."""
        rows = self._all("list_secrets", {"tenant": tenant})
        return [(str(r[0]), list(r[1]), str(r[2]), r[3]) for r in rows]

    def lock_all(self) -> list[tuple[str, str, str, bytes, str]]:
        """(id, tenant, name, ciphertext, key id) of every secret of every tenant, locked until the
        transaction ends."""
        return [(str(r[0]), str(r[1]), str(r[2]), bytes(r[3]), str(r[4]))
                for r in self._all("lock_all_secrets")]

    def lock_rotation(self) -> None:
        """Hold the rotation lock exclusively, for the session (until :meth:`unlock_rotation`)."""
        self._one("lock_rotation", {"lock": ROTATION_LOCK})

    def unlock_rotation(self) -> None:
        self._one("unlock_rotation", {"lock": ROTATION_LOCK})

    def share_rotation_lock(self) -> None:
        """Hold the rotation lock shared until the transaction ends (a writer: no rotation meanwhile)."""
        self._one("share_rotation_lock", {"lock": ROTATION_LOCK})

    def count_under_other_keys(self, key_id: str) -> int:
        row = self._one("count_under_other_keys", {"key_id": key_id})
        return int(row[0]) if row else 0

    def reencrypt(self, ident: str, ciphertext: bytes, key_id: str) -> None:
        self._execute("reencrypt_secret", {"id": ident, "ciphertext": ciphertext, "key_id": key_id})
