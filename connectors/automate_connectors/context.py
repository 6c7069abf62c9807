"""What an action knows about the step it runs for (the runtime's built-in actions and the connectors
alike), and logging for a step."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automate.config import Settings

__all__ = ["ActionContext", "step_log"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionContext:
    """The step an action runs for.

    Attributes:
        idempotency_key: The execution's id and the step's: the same on every attempt of the step, so an
            outside system that dedupes on it applies a retried call once.
        automation: The workflow's slug (a secret's scope can name it); None outside an automation.
        connection: The step's named connection, if it has one.
        written_input: The step's input as the workflow writes it (templates unrendered), for the checks
            that need to know what an event could change; None outside a workflow.
    """

    execution_id: str
    step_id: str
    attempt: int  # 1 for the first try
    idempotency_key: str
    tenant: str
    settings: Settings
    log: logging.LoggerAdapter[logging.Logger]
    automation: str | None = None
    connection: str | None = None
    written_input: Mapping[str, Any] | None = None


def step_log(ctx: ActionContext, level: int, message: str, *, action: str, **fields: Any) -> None:
    """Log ``message`` for a step with its ids and the stable ``action`` key in ``extra``.

    The adapter's own ``extra`` (execution and step ids) is merged explicitly: a ``LoggerAdapter`` before
    Python 3.13 replaces the ``extra`` of a call instead of merging it, which would lose ``action``.
    """
    adapter = ctx.log
    if not adapter.isEnabledFor(level):
        return
    extra: dict[str, Any] = {**(adapter.extra or {}), "action": action, **fields}
    adapter.logger.log(level, message, extra=extra)
