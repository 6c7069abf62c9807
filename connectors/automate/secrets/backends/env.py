"""``$env:VAR``: the process's environment."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from automate.config import Settings
from automate.errors import SecretNotFoundError

if TYPE_CHECKING:
    from automate.secrets.references import Reference
    from automate.secrets.resolver import Reader

__all__ = ["Environment"]


class Environment:
    def fetch(self, reference: Reference, *, tenant: str, reader: Reader | None, settings: Settings) -> str:
        value = os.environ.get(reference.name)
        if value is None:
            raise SecretNotFoundError(f"{reference.text}: no such environment variable")
        return value
