"""Checking an action's input and a connection's configuration against their JSON schemas, before any
call: a typed error naming the path of the first fault."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automate.errors import ConnectorError, UsageError

__all__ = ["check_schema", "validate_against"]


def check_schema(schema: Mapping[str, Any], what: str) -> None:
    """Raise UsageError when ``schema`` is not a valid JSON schema (a connector's programming error)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise UsageError(f"{what} is not a valid JSON schema: {exc.message}") from None


def validate_against(schema: Mapping[str, Any], value: Any, *, what: str, code: str) -> None:
    """Raise ConnectorError(``code``) naming the JSON path of the first place ``value`` breaks ``schema``.

    The message names the path and the rule, never the value (it may be a resolved secret).
    """
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path)
        rule = first.validator
        detail = {"required": "a required field is missing", "additionalProperties": "an unknown field",
                  "type": f"must be {first.validator_value}", "enum": "not one of the allowed values",
                  "minLength": "too short", "maxLength": "too long", "pattern": "does not match its pattern",
                  "minimum": "too small", "maximum": "too large", "format": "not the expected format"}.get(
            str(rule), f"breaks {rule}")
        if rule in ("required", "additionalProperties"):  # these messages name keys, never values
            detail = first.message[:200]
        elif rule in ("anyOf", "oneOf") and isinstance(first.schema, Mapping) and first.schema.get(
                "description"):
            detail = str(first.schema["description"])[:200]
        raise ConnectorError(f"{what} at {path}: {detail}", code=code, retryable=False)
