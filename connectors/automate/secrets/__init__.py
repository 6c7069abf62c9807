"""Secrets: references that name a credential, resolved only at the moment of use.

    from automate.secrets import resolve, SecretRef

    api_key = resolve("$secret:STRIPE_API_KEY")

References: ``$secret:KEY`` (Postgres, encrypted; ``automate secrets set``), ``$env:VAR``,
``$vault:path#field`` (HashiCorp Vault KV v2), ``$aws:secret-id#field`` (AWS Secrets Manager). A secret
of the Postgres store may list the automations and connectors that can read it; any other reader gets
:class:`SecretAccessDenied`. A value never reaches a log line, an exception, a Kafka record, a step row,
a dead letter or a metric: the runtime resolves references inside the connector call and scrubs the
values out of what it keeps afterwards.
"""

from __future__ import annotations

from automate.errors import InvalidSecretReference, SecretAccessDenied, SecretError, SecretNotFoundError
from automate.secrets.references import Reference, SecretRef, parse_reference
from automate.secrets.resolver import Reader, Redactor, references_in, resolve, resolve_in

__all__ = [
    "InvalidSecretReference",
    "Reader",
    "Redactor",
    "Reference",
    "SecretAccessDenied",
    "SecretError",
    "SecretNotFoundError",
    "SecretRef",
    "parse_reference",
    "references_in",
    "resolve",
    "resolve_in",
]
