"""``$secret:KEY``: the tenant's secrets in Postgres, encrypted with the configured keys, each readable by
the automations and connectors it names (or, naming none, by any reader of its tenant)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automate.config import Settings
from automate.db.context import pool
from automate.db.secrets import SecretRow, SecretStore
from automate.errors import ConfigurationError, SecretAccessDenied, SecretNotFoundError
from automate.secrets.keys import load_keys

if TYPE_CHECKING:
    from automate.secrets.references import Reference
    from automate.secrets.resolver import Reader

__all__ = ["DatabaseSecrets", "may_read"]


def may_read(scopes: list[str], reader: Reader | None) -> bool:
    """Whether ``reader`` may read a secret with ``scopes`` (none: anyone of the tenant)."""
    if not scopes:
        return True
    if reader is None:
        return False
    return ((reader.automation is not None and f"automation:{reader.automation}" in scopes)
            or (reader.connector is not None and f"connector:{reader.connector}" in scopes))


class DatabaseSecrets:
    def fetch(self, reference: Reference, *, tenant: str, reader: Reader | None, settings: Settings) -> str:
        row = self._row(reference, tenant, reader, settings)
        try:
            return load_keys(settings).decrypt(row.ciphertext)
        except ConfigurationError:
            # A rotation may have re-encrypted the row and retired its key between the two reads: read
            # both again, once.
            row = self._row(reference, tenant, reader, settings)
            return load_keys(settings).decrypt(row.ciphertext)

    def _row(self, reference: Reference, tenant: str, reader: Reader | None, settings: Settings) -> SecretRow:
        with pool(settings).connection() as conn:
            row = SecretStore(conn).get(tenant, reference.name)
        if row is None:
            raise SecretNotFoundError(f"{reference.text}: tenant {tenant!r} has no such secret "
                                      "(`automate secrets set`)")
        if not may_read(row.scopes, reader):
            raise SecretAccessDenied(f"{reference.text} may be read by {', '.join(row.scopes)} only, not by "
                                     f"{reader.describe() if reader else 'code outside an automation'}")
        return row
