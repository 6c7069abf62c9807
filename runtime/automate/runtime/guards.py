"""What the step engine checks before it trusts or stores a value: a ``core.wait`` step's seconds, a
value Postgres ``jsonb`` cannot hold (a NUL character), an error's message; and reading a request's
context. A failed check is a typed, permanent failure of the step or the execution, never a crash that
leaves an execution RUNNING."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from automate.errors import ErrorCodes, StepError

__all__ = ["describe", "has_nul", "json_has_nul", "loads", "storable_text", "wait_seconds"]

_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # \u0000 in JSON text, not an escaped backslash's


def wait_seconds(rendered: Mapping[str, Any]) -> float:
    """The seconds of a ``core.wait`` step's rendered input: a finite number at least 0.

    Raises:
        StepError: ``input.invalid`` (permanent): NaN, infinite, negative, or not a number.
    """
    raw = rendered.get("seconds", 0) if isinstance(rendered, Mapping) else rendered
    try:
        seconds = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise StepError(f"core.wait seconds must be a finite number at least 0, not {str(raw)[:60]!r}",
                        code=ErrorCodes.INPUT_INVALID, retryable=False)
    return seconds


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character in a string or a key (Postgres ``jsonb`` refuses it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_nul(v) for v in value)
    return False


def json_has_nul(text: str) -> bool:
    """Whether JSON text (made with ``ensure_ascii``) holds an escaped NUL character."""
    return _NUL_ESCAPE.search(text) is not None


def storable_text(text: str) -> str:
    """``text`` with NUL characters replaced (U+FFFD), for a message Postgres must store."""
    return text.replace("\x00", "\ufffd")


def describe(exc: Exception) -> dict[str, Any]:
    """A step's or an execution's error as recorded: its code and its message (storable)."""
    code = getattr(exc, "code", ErrorCodes.INTERNAL)
    return {"code": str(code), "message": storable_text(str(exc)[:2000])}


def loads(text: str) -> Any:
    """A request's JSON text (its context)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what only the json module reads, e.g. NaN from another producer
        return json.loads(text)
