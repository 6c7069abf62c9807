"""Where each form of reference is looked up: one module a backend, behind :class:`Backend`.

Adding a backend is a module here and a line in :data:`BACKENDS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from automate.config import Settings
from automate.secrets.backends.aws import AwsSecretsManager
from automate.secrets.backends.database import DatabaseSecrets
from automate.secrets.backends.env import Environment
from automate.secrets.backends.vault import Vault

if TYPE_CHECKING:
    from automate.secrets.references import Reference
    from automate.secrets.resolver import Reader

__all__ = ["BACKENDS", "Backend"]


class Backend(Protocol):
    """Looks one reference up. Raises SecretNotFoundError or SecretAccessDenied, never with the value."""

    def fetch(self, reference: Reference, *, tenant: str, reader: Reader | None,
              settings: Settings) -> str: ...


BACKENDS: dict[str, Backend] = {
    "secret": DatabaseSecrets(),
    "env": Environment(),
    "vault": Vault(),
    "aws": AwsSecretsManager(),
}
