"""The built-in ``core.*`` actions: logging, pure data mapping, and the test and benchmark helpers.

None of them talks to the outside world, so all are safe to run again (``idempotent = True``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from typing import Any

from automate.errors import ErrorCodes, StepError
from automate_connectors.context import ActionContext, step_log

__all__ = ["Fail", "Log", "Noop", "Sleep", "Transform"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _invalid(action: str, message: str) -> StepError:
    return StepError(f"{action}: {message}", code=ErrorCodes.INPUT_INVALID, retryable=False)


class Log:
    """``core.log``: write ``message`` to the runtime's log at ``level`` (default ``info``).

    Input: ``{"message": str, "level"?: "debug" | "info" | "warning" | "error" | "critical"}``.
    A non-string message is logged as its ``str()``. Output: ``{"logged": true}``.
    """

    name: str = "core.log"
    idempotent: bool = True

    async def run(self, input: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        if "message" not in input:
            raise _invalid(self.name, "'message' is required")
        raw_level = input.get("level", "info")
        level = _LEVELS.get(raw_level.lower()) if isinstance(raw_level, str) else None
        if level is None:
            raise _invalid(self.name, f"'level' must be one of {', '.join(_LEVELS)}")
        message = input["message"]
        step_log(ctx, level, message if isinstance(message, str) else str(message), action=self.name)
        return {"logged": True}


def _json_copy(value: Any, path: str) -> Any:
    """A copy of ``value`` made only of JSON types, or StepError ``output.not_json`` naming the path."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StepError(f"core.transform: {path} is {value}, which JSON cannot hold",
                            code=ErrorCodes.OUTPUT_NOT_JSON, retryable=False)
        return value
    if isinstance(value, Mapping):
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise StepError(f"core.transform: {path} has a non-string key of type {type(key).__name__}",
                                code=ErrorCodes.OUTPUT_NOT_JSON, retryable=False)
            copied[key] = _json_copy(item, f"{path}.{key}")
        return copied
    if isinstance(value, (list, tuple)):
        return [_json_copy(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise StepError(f"core.transform: {path} is a {type(value).__name__}, not a JSON value",
                    code=ErrorCodes.OUTPUT_NOT_JSON, retryable=False)


class Transform:
    """``core.transform``: pure data mapping. The (already rendered) input is the output.

    The mapping itself is done by the step's input templates; this action only checks that the result is
    JSON (StepError ``output.not_json`` naming the path otherwise) and returns a copy of it.
    """

    name: str = "core.transform"
    idempotent: bool = True
    pure: bool = True  # no effect outside the execution (see Action)

    async def run(self, input: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        output: dict[str, Any] = _json_copy(input, "$")
        return output


class Fail:
    """``core.fail``: fail with a chosen error code, for tests of retries and dead letters.

    Input: ``{"code": str, "message"?: str, "retryable"?: bool (default true), "times"?: int,
    "retry_after"?: float}``. Raises ``StepError(code)`` while ``ctx.attempt <= times`` (always when
    ``times`` is absent), then returns ``{"attempt": ctx.attempt}``: ``times: 2`` fails twice, then succeeds.
    """

    name: str = "core.fail"
    idempotent: bool = True

    async def run(self, input: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        code = input.get("code")
        if not isinstance(code, str) or not code:
            raise _invalid(self.name, "'code' must be a non-empty string")
        message = input.get("message", f"core.fail: {code}")
        retryable = input.get("retryable", True)
        times = input.get("times")
        retry_after = input.get("retry_after")
        if not isinstance(message, str):
            raise _invalid(self.name, "'message' must be a string")
        if not isinstance(retryable, bool):
            raise _invalid(self.name, "'retryable' must be a boolean")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
            raise _invalid(self.name, "'times' must be a non-negative integer")
        if retry_after is not None and (type(retry_after) not in (int, float) or not retry_after >= 0):
            raise _invalid(self.name, "'retry_after' must be a non-negative number")
        if times is None or ctx.attempt <= times:
            raise StepError(message, code=code, retryable=retryable,
                            retry_after=None if retry_after is None else float(retry_after))
        return {"attempt": ctx.attempt}


class Sleep:
    """``core.sleep``: wait ``seconds`` without blocking the worker (timeouts, benchmarks).

    Input: ``{"seconds": number >= 0}``. Output: ``{"slept": seconds}``.
    """

    name: str = "core.sleep"
    idempotent: bool = True

    async def run(self, input: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        seconds = input.get("seconds")
        if (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds)
                or seconds < 0):
            raise _invalid(self.name, "'seconds' must be a finite number >= 0")
        await asyncio.sleep(seconds)
        return {"slept": seconds}


class Wait(Sleep):
    """``core.wait``: a durable timer. The step engine handles it itself: in process it sleeps; in the
    Kafka workers it parks the step and comes back through the retry tiers, so no worker holds it in
    memory. ``run`` (the in-process fallback) sleeps like ``core.sleep``. Input: ``{"seconds": n}``.
    """

    name: str = "core.wait"


class Noop:
    """``core.noop``: do nothing and return ``{}`` (benchmarks of the engine itself)."""

    name: str = "core.noop"
    idempotent: bool = True
    pure: bool = True  # no effect outside the execution (see Action)

    async def run(self, input: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        return {}
