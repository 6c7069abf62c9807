"""Where a step's input may hold secret references, so that a workflow sends a credential only where
credentials go, and an event cannot choose where it goes.

* Only ``$secret:`` references: the tenant's own store, with its scopes. ``$env:``, ``$vault:`` and
  ``$aws:`` read what the deployment holds (its environment, its Vault, its AWS account); they belong in a
  connection's configuration, which the operator sets (``automate connections set``), never in a
  workflow.
* Only in values (never in a field's name), inside the top-level input fields the action's input schema
  marks ``"x-secret": true`` (the
  ``http.request`` headers, say); anywhere else (a Slack message's text, an e-mail's body) a reference is
  a fault, not a value to send.
* When the input holds a reference, the field the action names as its ``destination`` (``url``) must be
  written out up to its host: ``https://api.example.com/{{ event.payload.path }}`` may carry a header with
  a secret, ``{{ event.payload.url }}`` may not.

:func:`input_reference_faults` checks the input as written (when a workflow is validated) or as rendered
(before every call: a rendered value holds only the references its template's text holds).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from automate.errors import InvalidSecretReference
from automate.secrets.references import find_references
from automate_connectors.base import ActionSpec

__all__ = ["destination_faults", "input_reference_faults", "secret_fields"]

_TEMPLATE_START: Final = re.compile(r"\{[{%#]")
_WRITTEN_ORIGIN: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#{}$\s]+[/?#]")


def secret_fields(spec: ActionSpec) -> frozenset[str]:
    """The top-level input fields of ``spec`` whose values may hold secret references."""
    properties = spec.input_schema.get("properties", {})
    return frozenset(name for name, schema in properties.items()
                     if isinstance(schema, Mapping) and schema.get("x-secret"))


def _strings(value: Any, path: str) -> Iterator[tuple[str, str, bool]]:
    """(JSON path, text, whether it is a key) of every string in a JSON value, keys included."""
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            yield where, item, False
        elif isinstance(item, dict):
            for key, inner in item.items():
                yield f"{where}.{key}", str(key), True
                pending.append((inner, f"{where}.{key}"))
        elif isinstance(item, list):
            pending.extend((inner, f"{where}[{i}]") for i, inner in enumerate(item))


def _holds_reference(value: Any, path: str) -> bool:
    try:
        return any(True for _where, text, _key in _strings(value, path) if "$" in text
                   for _found in find_references(text))
    except InvalidSecretReference:
        return True


def input_reference_faults(action: str, spec: ActionSpec, input: Mapping[str, Any],
                           path: str = "$") -> list[tuple[str, str]]:
    """(JSON path, message) of every secret reference ``input`` holds where it may not (see above).
    Names references, never values."""
    allowed = secret_fields(spec)
    faults: list[tuple[str, str]] = []
    for field, value in input.items():
        for where, text, is_key in _strings({field: value}, path):
            if "$" not in text:
                continue
            try:
                references = [reference for _match, reference in find_references(text)]
            except InvalidSecretReference as exc:
                faults.append((where, exc.message))
                continue
            for reference in references:
                if is_key:
                    faults.append((where, f"{reference.text}: a secret reference is never a field's name"))
                elif reference.scheme != "secret":
                    faults.append((where, f"{reference.text}: a workflow names $secret: references only; "
                                          f"${reference.scheme}: belongs in a connection's configuration"))
                elif field not in allowed:
                    fields = ", ".join(sorted(allowed)) or "nowhere in its input (its connection holds them)"
                    faults.append((where, f"{reference.text}: {action} takes secrets in {fields}"))
    return faults


def destination_faults(action: str, spec: ActionSpec, input: Mapping[str, Any],
                       path: str = "$") -> list[tuple[str, str]]:
    """When the input (as written in a workflow) holds a reference: a fault unless the destination field
    is written out up to its host, so that no event can send the secret elsewhere."""
    if spec.destination is None or not _holds_reference(input, path):
        return []
    value = input.get(spec.destination)
    if not isinstance(value, str):
        return []
    start = _TEMPLATE_START.search(value)
    written = value if start is None else value[:start.start()]
    if start is None or _WRITTEN_ORIGIN.match(written):
        return []
    return [(f"{path}.{spec.destination}", f"{action} sends a secret: write its {spec.destination} out up to "
                                           "the host (https://host/...), templates only after it")]
