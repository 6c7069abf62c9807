"""``$vault:path#field``: HashiCorp Vault's KV version 2 engine, over its HTTP API
(``GET /v1/<mount>/data/<path>`` with ``X-Vault-Token``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automate.config import Settings
from automate.errors import ConfigurationError, SecretAccessDenied, SecretError, SecretNotFoundError
from automate.redact import mask_url

if TYPE_CHECKING:
    from automate.secrets.references import Reference
    from automate.secrets.resolver import Reader

__all__ = ["Vault"]


def pick_field(reference: Reference, data: Any) -> str:
    """The field the reference names of a secret holding several; the only one when it names none."""
    if not isinstance(data, dict):
        return str(data)
    if reference.field is None:
        if len(data) == 1:
            return str(next(iter(data.values())))
        raise SecretNotFoundError(f"{reference.text} holds {len(data)} fields: name one with #field")
    if reference.field not in data:
        raise SecretNotFoundError(f"{reference.text}: the secret has no field {reference.field!r}")
    return str(data[reference.field])


class Vault:
    def fetch(self, reference: Reference, *, tenant: str, reader: Reader | None, settings: Settings) -> str:
        import httpx

        if not settings.vault_url or settings.vault_token is None:
            raise ConfigurationError(f"{reference.text}: set AUTOMATE_VAULT_URL and AUTOMATE_VAULT_TOKEN")
        url = f"{settings.vault_url.rstrip('/')}/v1/{settings.vault_mount}/data/{reference.name.strip('/')}"
        try:
            response = httpx.get(url, headers={"X-Vault-Token": settings.vault_token.get_secret_value()},
                                 timeout=10.0)
        except httpx.HTTPError as exc:
            raise SecretError(f"{reference.text}: Vault at {mask_url(settings.vault_url or '')} unreachable "
                              f"({type(exc).__name__})", retryable=True) from None
        if response.status_code == 404:
            raise SecretNotFoundError(f"{reference.text}: no such secret in Vault")
        if response.status_code == 403:
            raise SecretAccessDenied(f"{reference.text}: Vault refused the token")
        if response.status_code != 200:
            raise SecretError(f"{reference.text}: Vault answered {response.status_code}",
                              retryable=response.status_code >= 500)
        try:
            data = response.json()["data"]["data"]
        except (ValueError, KeyError, TypeError):
            raise SecretError(f"{reference.text}: not a KV version 2 answer from Vault") from None
        return pick_field(reference, data)
