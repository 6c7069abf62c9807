"""What a chat call asks for, checked once at the boundary: the messages and the generation parameters.

Everything here is pure: the same :class:`ChatRequest` goes to every provider (each translates it to its
wire format), into the cache key, and to the context-window check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from automate.errors import UsageError

__all__ = ["LIMITS", "ChatRequest", "Limits", "Message", "parse_messages", "parse_parameters", "parse_schema"]

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What a call may carry (larger inputs are refused with a UsageError before anything is sent)."""

    messages: int = 1_000
    content_chars: int = 2_000_000  # all messages together
    stop_sequences: int = 4
    stop_chars: int = 200
    schema_bytes: int = 64 * 1024
    schema_depth: int = 32  # subschemas within subschemas
    schema_nesting: int = 128  # JSON levels of the whole schema (each subschema takes two or three)
    max_tokens: int = 1_000_000


LIMITS = Limits()


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One turn of the conversation."""

    role: str  # system | user | assistant
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """A chat call as the providers see it (the key and where it goes are elsewhere: never in here).

    Attributes:
        schema: A JSON schema the answer must be a JSON document of (structured output).
    """

    provider: str
    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    schema: Mapping[str, Any] | None = None

    @property
    def system(self) -> str | None:
        """The system messages joined (Anthropic and Bedrock take them apart from the turns)."""
        texts = [m.content for m in self.messages if m.role == "system"]
        return "\n\n".join(texts) if texts else None

    @property
    def turns(self) -> list[Message]:
        """The user and assistant messages, in order."""
        return [m for m in self.messages if m.role != "system"]

    def canonical(self) -> dict[str, Any]:
        """The request as a JSON value with a stable form (the cache key's basis)."""
        return {"provider": self.provider, "model": self.model,
                "messages": [m.as_dict() for m in self.messages], "temperature": self.temperature,
                "max_tokens": self.max_tokens, "top_p": self.top_p, "stop": list(self.stop),
                "schema": self.schema}


def parse_messages(messages: Any, limits: Limits = LIMITS) -> tuple[Message, ...]:
    """Check ``messages`` (a list of ``{"role", "content"}``) and freeze them.

    ``content`` may also be a list of text parts (``[{"type": "text", "text": "..."}]``), as the OpenAI
    API accepts; they are joined.

    Raises:
        UsageError: Not a non-empty list of such messages, an unknown role, or over the limits.
    """
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes) or not messages:
        raise UsageError("messages must be a non-empty list of {'role': ..., 'content': ...}")
    if len(messages) > limits.messages:
        raise UsageError(f"at most {limits.messages} messages per call, not {len(messages)}")
    parsed: list[Message] = []
    total = 0
    for index, item in enumerate(messages):
        if not isinstance(item, Mapping):
            raise UsageError(f"messages[{index}] is not an object with role and content")
        role, content = item.get("role"), _text(item.get("content"), index)
        if role not in ROLES:
            raise UsageError(f"messages[{index}].role must be one of {', '.join(ROLES)}")
        extra = set(item) - {"role", "content"}
        if extra:  # "name" too: Anthropic and Bedrock have no such field, and it would change the answer
            raise UsageError(f"messages[{index}] has fields not sent: {', '.join(sorted(extra))} "
                             f"(a message is role and content)")
        total += len(content)
        if total > limits.content_chars:
            raise UsageError(f"the messages hold more than {limits.content_chars} characters")
        parsed.append(Message(role=str(role), content=content))
    if all(m.role == "system" for m in parsed):
        raise UsageError("messages need at least one user or assistant message")
    return tuple(parsed)


def _text(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, bytes):
        texts = [part.get("text") for part in content if isinstance(part, Mapping)]
        if texts and len(texts) == len(content) and all(isinstance(t, str) for t in texts):
            return "".join(str(t) for t in texts)
    raise UsageError(f"messages[{index}].content must be a string (or a list of text parts)")


def parse_schema(schema: Any, limits: Limits = LIMITS) -> dict[str, Any] | None:
    """Check that ``schema`` is a JSON schema of an object or array a model can answer with, and that
    checking an answer against it is bounded: at most :attr:`Limits.schema_depth` schemas deep, only
    local ``$ref`` (``#`` or ``#/...``) that resolve, no ``pattern`` / ``patternProperties`` (Python's
    regular expressions can take exponential time on a crafted answer).

    Raises:
        UsageError: Not a valid JSON schema (Draft 2020-12), over the limits, or one of the above.
    """
    if schema is None:
        return None
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, Mapping):
        raise UsageError("schema must be a JSON schema (an object)")
    _check_nesting(schema, limits.schema_nesting)  # before anything recursive (json.dumps, jsonschema)
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError):
        raise UsageError("schema must be JSON") from None
    if size > limits.schema_bytes:
        raise UsageError(f"schema is larger than {limits.schema_bytes} bytes")
    _walk_schema(schema, limits.schema_depth)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise UsageError(f"schema is not a valid JSON schema: {exc.message}") from None
    return dict(schema)


# Keywords whose value is a schema, a map of names to schemas, or a list of schemas (Draft 2020-12).
_ONE = frozenset({"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
                  "unevaluatedItems", "unevaluatedProperties", "additionalItems", "contentSchema"})
_MAP = frozenset({"properties", "$defs", "definitions", "dependentSchemas"})
_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_REFUSED = frozenset({"pattern", "patternProperties", "$dynamicRef", "$recursiveRef"})


def _check_nesting(value: Any, limit: int) -> None:
    """Refuse JSON nested deeper than ``limit`` (iteratively: no recursion to exhaust)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > limit:
            raise UsageError(f"schema is nested deeper than {limit} levels")
        if isinstance(item, Mapping):
            pending.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            pending.extend((v, depth + 1) for v in item)


def _walk_schema(root: Mapping[str, Any], limit: int) -> None:
    """Every subschema, iteratively: depth, refused keywords, ``$ref`` local and resolvable."""
    pending: list[tuple[Any, int]] = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        if not isinstance(node, Mapping):
            continue  # a boolean schema, or a type error check_schema reports
        if depth > limit:
            raise UsageError(f"schema nests subschemas deeper than {limit} levels")
        refused = _REFUSED.intersection(node)
        if refused:
            raise UsageError(f"schema uses {', '.join(sorted(refused))}, which answers are not checked "
                             f"against (regular expressions can take unbounded time): use enum, or check "
                             f"the value after the call")
        if "$id" in node and node is not root:
            raise UsageError("schema may name an $id only at its root (references are resolved locally)")
        ref = node.get("$ref")
        if ref is not None:
            _resolve(root, ref)
        for keyword, value in node.items():
            if keyword in _ONE:
                pending.append((value, depth + 1))
            elif keyword in _MAP and isinstance(value, Mapping):
                pending.extend((v, depth + 1) for v in value.values())
            elif keyword in _LIST and isinstance(value, list | tuple):
                pending.extend((v, depth + 1) for v in value)


def _resolve(root: Mapping[str, Any], ref: Any) -> None:
    """Check that ``ref`` is ``#`` or a JSON pointer ``#/...`` into ``root`` that leads somewhere."""
    from urllib.parse import unquote

    if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
        raise UsageError("schema $ref must be local: '#' or '#/...' (a JSON pointer into the schema)")
    node: Any = root
    for raw in ref[2:].split("/") if ref != "#" else []:
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise UsageError(f"schema $ref {ref[:200]!r} does not resolve within the schema")
    if not isinstance(node, Mapping | bool):
        raise UsageError(f"schema $ref {ref[:200]!r} does not lead to a schema")


def parse_parameters(*, temperature: Any, max_tokens: Any, top_p: Any, stop: Any, limits: Limits = LIMITS
                     ) -> tuple[float | None, int | None, float | None, tuple[str, ...]]:
    """Check the generation parameters; returns them typed.

    Raises:
        UsageError: A value out of its range.
    """
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, int | float)
                                    or not 0 <= temperature <= 2):
        raise UsageError("temperature must be a number from 0 to 2")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                   or not 1 <= max_tokens <= limits.max_tokens):
        raise UsageError(f"max_tokens must be an integer from 1 to {limits.max_tokens}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, int | float)
                              or not 0 <= top_p <= 1):
        raise UsageError("top_p must be a number from 0 to 1")
    stops: tuple[str, ...] = ()
    if stop is not None:
        stops = (stop,) if isinstance(stop, str) else tuple(stop) if isinstance(stop, Sequence) else ()
        if (not stops or len(stops) > limits.stop_sequences
                or not all(isinstance(s, str) and 0 < len(s) <= limits.stop_chars for s in stops)):
            raise UsageError(f"stop must be a string or a list of at most {limits.stop_sequences} "
                             f"non-empty strings of at most {limits.stop_chars} characters")
    return (None if temperature is None else float(temperature), max_tokens,
            None if top_p is None else float(top_p), stops)
