"""Structured output: the answer of a call with a schema must be a JSON document valid against it.

Providers are asked for JSON natively (OpenAI's ``json_schema`` response format, a forced tool for
Anthropic and Bedrock), but an OpenAI-compatible server may ignore the format, and no provider
guarantees validity: every answer is parsed and validated here. A Markdown code fence around the
document (what models add when they are not constrained) is tolerated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from automate.errors import LlmOutputInvalid

__all__ = ["parse_output"]

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(?P<body>.*?)\n?```\s*$", re.DOTALL)


def parse_output(text: str, schema: Mapping[str, Any], *, provider: str, model: str) -> Any:
    """The JSON document of ``text``, validated against ``schema``.

    Raises:
        LlmOutputInvalid: Not JSON, or not valid against the schema (the message names the path and the
            rule that failed, never the answer's content).
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    fenced = _FENCE.match(text)
    try:
        document = json.loads(fenced.group("body") if fenced else text)
    except (ValueError, RecursionError):
        raise LlmOutputInvalid(f"{provider} model {model} answered something other than JSON "
                               f"({len(text)} characters) where a schema was asked for") from None
    failure: LlmOutputInvalid | None = None
    try:
        error = best_match(Draft202012Validator(schema).iter_errors(document))
    except Exception as exc:  # a document too deep to check, a reference that cannot be followed...
        failure = LlmOutputInvalid(f"{provider} model {model} answered JSON that could not be checked "
                                   f"against the schema ({type(exc).__name__})")
    if failure is not None:
        raise failure  # outside the handler: nothing of the answer is chained
    if error is not None:
        path = "/" + "/".join(str(part) for part in error.absolute_path)
        raise LlmOutputInvalid(f"{provider} model {model} answered JSON that violates the schema at {path} "
                               f"(rule {error.validator!s})")
    return document
