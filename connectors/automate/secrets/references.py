"""Secret references: how a workflow, a connection or code names a secret without holding it.

========================= ============================================ ===============================
form                      where the value comes from                   example
========================= ============================================ ===============================
``$secret:KEY``           Postgres, encrypted (``automate secrets set``)  ``$secret:STRIPE_API_KEY``
``$env:VAR``              the process's environment                    ``$env:DATABASE_URL``
``$vault:path#field``     HashiCorp Vault, KV v2 (field optional)      ``$vault:payments/stripe#key``
``$aws:secret-id#field``  AWS Secrets Manager (field: of a JSON value) ``$aws:prod/stripe#api_key``
========================= ============================================ ===============================

A reference may stand alone (``$secret:KEY``) or inside a string (``Bearer $secret:KEY``); it ends at the
first character its form does not allow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from automate.errors import InvalidSecretReference

__all__ = ["REFERENCE", "REFERENCE_START", "Reference", "SecretRef", "find_references", "parse_reference"]

Scheme = Literal["secret", "env", "vault", "aws"]

REFERENCE: Final = re.compile(
    r"\$(?:"
    r"(?P<secret>secret):(?P<secret_name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)"
    r"|(?P<env>env):(?P<env_name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<vault>vault):(?P<vault_name>[A-Za-z0-9_\-][A-Za-z0-9_.\-/]*)(?:\#(?P<vault_field>[A-Za-z0-9_.\-]+))?"
    r"|(?P<aws>aws):(?P<aws_name>[A-Za-z0-9/_+=@\-][A-Za-z0-9/_+=.@:\-]*)(?:\#(?P<aws_field>[A-Za-z0-9_.\-]+))?"
    r")"
)
"""A reference of any form, inside a longer string or alone."""

REFERENCE_START: Final = re.compile(r"\$(?:secret|env|vault|aws):")
"""Where a reference of any form starts (complete or not)."""


@dataclass(frozen=True, slots=True)
class Reference:
    """One parsed reference: its scheme, the name it looks up, and a field of the value (vault, aws)."""

    scheme: Scheme
    name: str
    field: str | None = None

    @property
    def text(self) -> str:
        return f"${self.scheme}:{self.name}" + (f"#{self.field}" if self.field else "")


def _reference(match: re.Match[str]) -> Reference:
    for scheme in ("secret", "env", "vault", "aws"):
        if match[scheme]:
            field = match.groupdict().get(f"{scheme}_field")
            return Reference(scheme, match[f"{scheme}_name"], field)
    raise InvalidSecretReference(f"not a secret reference: {match[0]!r}")  # pragma: no cover - regex


def parse_reference(text: str) -> Reference:
    """``text``, which must be one whole reference.

    Raises:
        InvalidSecretReference: It is not (names the accepted forms).
    """
    match = REFERENCE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidSecretReference(
            f"{str(text)[:80]!r} is not a secret reference: write $secret:KEY, $env:VAR, $vault:path#field "
            "or $aws:secret-id")
    return _reference(match)


def find_references(text: str) -> Iterator[tuple[re.Match[str], Reference]]:
    """Every reference inside ``text``.

    Raises:
        InvalidSecretReference: ``text`` starts a reference (``$secret:``...) it does not complete.
    """
    found = 0
    for match in REFERENCE.finditer(text):
        found += 1
        yield match, _reference(match)
    if len(REFERENCE_START.findall(text)) != found:
        raise InvalidSecretReference(
            f"a secret reference in {REFERENCE_START.sub('$…:', text)[:80]!r} is not complete: write "
            "$secret:KEY, $env:VAR, $vault:path#field or $aws:secret-id")


class SecretRef(str):
    """A secret reference as a value: ``SecretRef("$secret:API_KEY")``, and a pydantic field type
    (a string field that must hold one reference). :meth:`resolve` gives the secret at the moment of use.

    Raises:
        InvalidSecretReference: Not a reference.
    """

    __slots__ = ()

    def __new__(cls, reference: str) -> SecretRef:
        parse_reference(reference)
        return super().__new__(cls, reference.strip())

    @property
    def reference(self) -> Reference:
        return parse_reference(self)

    def resolve(self, **kwargs: Any) -> str:
        """The secret's value now (``tenant``, ``reader``, ``settings``: as
        :func:`automate.secrets.resolve`)."""
        from automate.secrets.resolver import resolve

        return resolve(self, **kwargs)

    def __repr__(self) -> str:
        return f"SecretRef({str(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any,
                                     _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def convert(value: Any) -> SecretRef:
            if isinstance(value, SecretRef):
                return value
            if not isinstance(value, str):
                raise PydanticCustomError("secret_reference", "a secret reference is a string, not {kind}",
                                          {"kind": type(value).__name__})
            try:
                return cls(value)
            except InvalidSecretReference as exc:
                raise PydanticCustomError("secret_reference", exc.message) from None

        return core_schema.no_info_plain_validator_function(
            convert, serialization=core_schema.plain_serializer_function_ser_schema(str))
