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
        extra = set(item) - {"role", "content", "name"}
        if extra:
            raise UsageError(f"messages[{index}] has fields no provider takes: {', '.join(sorted(extra))}")
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
    """Check that ``schema`` is a JSON schema of an object or array a model can answer with.

    Raises:
        UsageError: Not a valid JSON schema (Draft 2020-12), or over the size limit.
    """
    if schema is None:
        return None
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, Mapping):
        raise UsageError("schema must be a JSON schema (an object)")
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError):
        raise UsageError("schema must be JSON") from None
    if size > limits.schema_bytes:
        raise UsageError(f"schema is larger than {limits.schema_bytes} bytes")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise UsageError(f"schema is not a valid JSON schema: {exc.message}") from None
    return dict(schema)


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
