"""``$env:VAR``: the process's environment, except Automate's own settings (``AUTOMATE_*``: the database
URL, the secret keys, the Vault token), which no reference reads."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from automate.config import Settings
from automate.errors import SecretAccessDenied, SecretNotFoundError

if TYPE_CHECKING:
    from automate.secrets.references import Reference
    from automate.secrets.resolver import Reader

__all__ = ["Environment"]


class Environment:
    def fetch(self, reference: Reference, *, tenant: str, reader: Reader | None, settings: Settings) -> str:
        if reference.name.upper().startswith("AUTOMATE_"):
            raise SecretAccessDenied(f"{reference.text}: Automate's own settings are not secrets to read")
        value = os.environ.get(reference.name)
        if value is None:
            raise SecretNotFoundError(f"{reference.text}: no such environment variable")
        return value
