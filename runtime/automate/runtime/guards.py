"""What the step engine checks before it trusts or stores a value: a ``core.wait`` step's seconds, an
error's message (what Postgres cannot hold, :mod:`automate.jsonb`, replaced); and reading a request's
context. A failed check is a typed, permanent failure of the step or the execution, never a crash that
leaves an execution RUNNING."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson

from automate.errors import ErrorCodes, StepError
from automate.jsonb import unstorable

__all__ = ["describe", "loads", "read_context", "storable_text", "wait_seconds"]


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


def storable_text(text: str) -> str:
    """``text`` with what Postgres cannot store (NUL characters, lone surrogates) replaced, for a message."""
    text = text.replace("\x00", "\ufffd")
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


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


def read_context(text: str) -> tuple[dict[str, Any], str | None]:
    """(context, None) of a request's context text; ({}, why) when it is not a JSON object Postgres can
    store: not JSON, nested past the parser's depth, another JSON value, a NUL or a lone surrogate."""
    try:
        context = loads(text)
    except (ValueError, TypeError, RecursionError):
        return {}, "is not JSON"
    if not isinstance(context, dict):
        return {}, f"is a JSON {type(context).__name__}, not an object"
    problem = unstorable(context)
    if problem is not None:
        return {}, f"{problem}, which Postgres cannot store"
    return context, None
