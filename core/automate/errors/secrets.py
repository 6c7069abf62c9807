"""Errors of the secrets module (``automate.secrets``)."""

from __future__ import annotations

from automate.errors.base import AutomateError
from automate.errors.codes import ErrorCodes

__all__ = ["InvalidSecretReference", "SecretAccessDenied", "SecretError", "SecretNotFoundError"]


class SecretError(AutomateError):
    """A secret reference could not be resolved. The message names the reference, never a value."""

    code = ErrorCodes.SECRET


class SecretNotFoundError(SecretError):
    """No secret of that name (in the tenant, the environment, Vault or AWS)."""

    code = ErrorCodes.SECRET_NOT_FOUND


class SecretAccessDenied(SecretError):
    """The secret lists the automations and connectors that may read it, and the reader is not one."""

    code = ErrorCodes.SECRET_ACCESS_DENIED


class InvalidSecretReference(SecretError):
    """Not a reference of a known form (``$secret:KEY``, ``$env:VAR``, ``$vault:path#field``,
    ``$aws:secret-id``)."""

    code = ErrorCodes.SECRET_INVALID_REFERENCE
