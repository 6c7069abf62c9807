"""What a step's action is, for the runtime: a name, whether it is idempotent, and an async call.

The connector framework (a later issue) plugs in here: its actions are wrapped as :class:`Action`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from automate.config import Settings

__all__ = ["Action", "ActionContext", "is_pure"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionContext:
    """What an action knows about the step it runs for."""

    execution_id: str
    step_id: str
    attempt: int  # 1 for the first try
    idempotency_key: str  # execution id + step id: pass it to outside systems that dedupe
    tenant: str
    settings: Settings
    log: logging.LoggerAdapter[logging.Logger]


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
