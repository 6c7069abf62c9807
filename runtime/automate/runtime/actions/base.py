"""What a step's action is, for the runtime: a name, whether it is idempotent, and an async call.

Connectors plug in here: each of their actions is wrapped as an :class:`Action`
(:mod:`automate.runtime.actions.connectors`). :class:`ActionContext` is the connectors' own
(:mod:`automate_connectors.context`), so that built-in actions and connectors see the same step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from automate.errors import ErrorCodes, OutputError
from automate.jsonb import unstorable_text
from automate_connectors.context import ActionContext

__all__ = ["Action", "ActionContext", "checked_output", "is_pure"]


class Action(Protocol):
    """A step action. ``run`` returns the step's output (a JSON object) or raises StepError.

    An action may also say ``pure = True``: it computes its output from its input and touches nothing
    outside the execution (:func:`is_pure`). The engine records a pure step's result together with the
    next write the execution makes anyway (the next step with an effect, a retry, the end) instead of
    one commit of its own; after a crash in between, the pure steps are simply computed again.
    """

    name: str
    idempotent: bool

    async def run(self, input: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]: ...


def is_pure(action: object) -> bool:
    """Whether ``action`` declares ``pure = True`` (the default is False: it may have effects)."""
    return getattr(action, "pure", False) is True


def checked_output(output: Any, max_bytes: int) -> dict[str, Any]:
    """``output`` as a step's output: a JSON object of at most ``max_bytes``.

    Raises:
        OutputError: Not a JSON object (``output.not_json``), too large (``output.too_large``), or
            holding a NUL character, which Postgres ``jsonb`` cannot store (``output.not_storable``).
    """
    if not output and isinstance(output, dict):  # the common case of an empty output, checked cheaply
        return {}
    if not isinstance(output, Mapping):
        raise OutputError(f"step output must be a JSON object, not {type(output).__name__}",
                          code=ErrorCodes.OUTPUT_NOT_JSON)
    try:
        text = json.dumps(output, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise OutputError(f"step output is not JSON: {exc}", code=ErrorCodes.OUTPUT_NOT_JSON) from None
    if len(text) > max_bytes:
        raise OutputError(f"step output is {len(text)} bytes, above AUTOMATE_MAX_STEP_OUTPUT_BYTES="
                          f"{max_bytes}", code=ErrorCodes.OUTPUT_TOO_LARGE)
    problem = unstorable_text(text)
    if problem:
        raise OutputError(f"step output {problem}, which Postgres cannot store",
                          code=ErrorCodes.OUTPUT_NOT_STORABLE)
    return dict(output)
