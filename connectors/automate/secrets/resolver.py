"""Resolving references at the moment of use, and keeping the values out of everything that stays.

:func:`resolve` gives one reference's value; :func:`resolve_in` substitutes every reference inside a
JSON value (a connector's configuration, a step's input) and returns a :class:`Redactor` of the values it
put in, with which the caller scrubs whatever it keeps afterwards (an output, an error message).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from automate.config import Settings, get_settings
from automate.secrets.backends import BACKENDS
from automate.secrets.references import Reference, find_references, parse_reference

__all__ = ["REDACTED", "Reader", "Redactor", "references_in", "resolve", "resolve_in"]

REDACTED = "[secret]"


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads a secret: the automation a step belongs to, and the connector it calls. A secret that
    lists scopes may be read only by a reader it names."""

    automation: str | None = None
    connector: str | None = None

    def describe(self) -> str:
        parts = [f"automation:{self.automation}" if self.automation else "",
                 f"connector:{self.connector}" if self.connector else ""]
        return " ".join(p for p in parts if p) or "an anonymous reader"


def resolve(ref: str, *, tenant: str | None = None, reader: Reader | None = None,
            settings: Settings | None = None) -> str:
    """The value of one reference (``$secret:KEY``, ``$env:VAR``, ``$vault:path#field``, ``$aws:id#field``).

    Args:
        ref: The reference, alone.
        tenant: Whose ``$secret:`` secrets (default: the settings' tenant).
        reader: Who reads; a secret that lists scopes refuses any other reader, and code outside an
            automation (``reader=None``).
        settings: Default: the process's.

    Raises:
        InvalidSecretReference: ``ref`` is not a reference.
        SecretNotFoundError: No such secret.
        SecretAccessDenied: The reader may not read it.
        ConfigurationError: No key to decrypt with, or the backend is not configured.
    """
    settings = settings or get_settings()
    return _fetch(parse_reference(ref), tenant or settings.tenant, reader, settings)


def _fetch(reference: Reference, tenant: str, reader: Reader | None, settings: Settings) -> str:
    return BACKENDS[reference.scheme].fetch(reference, tenant=tenant, reader=reader, settings=settings)


def references_in(value: Any) -> list[Reference]:
    """Every reference in the strings of a JSON value (keys included), in order."""
    return [reference for text in _strings(value) for _match, reference in find_references(text)]


def _strings(value: Any) -> Iterable[str]:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)


@dataclass
class Redactor:
    """The secret values a call received: scrubs them out of what is kept after it."""

    values: set[str] = field(default_factory=set)

    def scrub(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            if value:
                text = text.replace(value, REDACTED)
        return text

    def scrub_value(self, value: Any) -> Any:
        """A copy of a JSON value with every secret value replaced, in keys and strings alike."""
        if not self.values:
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub(k) if isinstance(k, str) else k: self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub_value(v) for v in value]
        return value


def resolve_in(value: Any, *, tenant: str, reader: Reader | None, settings: Settings,
               redactor: Redactor | None = None) -> tuple[Any, Redactor]:
    """A copy of the JSON value ``value`` with every reference in its string values (not its keys)
    replaced by its value (each looked up once), and the redactor of those values (``redactor`` if
    given)."""
    redactor = redactor if redactor is not None else Redactor()
    found: dict[str, str] = {}

    def substitute(text: str) -> str:
        pieces: list[str] = []
        last = 0
        for match, reference in find_references(text):
            if reference.text not in found:
                found[reference.text] = _fetch(reference, tenant, reader, settings)
                redactor.values.add(found[reference.text])
            pieces.append(text[last:match.start()])
            pieces.append(found[reference.text])
            last = match.end()
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return substitute(item) if "$" in item else item
        if isinstance(item, dict):  # keys stay as written: a name is never a secret's place
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        return item

    return walk(value), redactor
