"""Step tasks: a step to run again later (a retry after its backoff, a durable wait, a replay), as the
``StepTask`` record that travels through a retry tier back to its workflow's topic.

The runtime defers a step by producing its task to the tier of its delay
(:func:`automate.topics.tier_for`), with three headers the retry worker reads without decoding the
record: when it is due, its attempt, and the workflow topic to put it back on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from automate.config import Settings
from automate.records import Records
from automate.topics import retry_topic, tier_for, workflow_topic

if TYPE_CHECKING:
    from automate.transport import AsyncProducer

__all__ = ["ATTEMPT_HEADER", "DUE_AT_HEADER", "TARGET_HEADER", "StepTask", "header", "send_step_task"]

DUE_AT_HEADER = "automate_due_at"  # epoch milliseconds
ATTEMPT_HEADER = "automate_attempt"
TARGET_HEADER = "automate_target"  # the workflow topic the task goes back to once due


@dataclass(frozen=True, slots=True)
class StepTask:
    """A step to resume later: run ``step_id`` of the execution as ``attempt`` once ``due_at`` (epoch
    seconds) has come."""

    execution_id: str
    tenant: str
    workflow_slug: str
    step_id: str
    attempt: int
    due_at: float
    reason: Literal["retry", "wait", "replay"]


async def send_step_task(settings: Settings, records: Records, producer: AsyncProducer,
                         task: StepTask) -> None:
    """Produce ``task`` to the retry tier of its delay, with the headers the retry worker reads."""
    due_ms = int(task.due_at * 1000)
    record = {"execution_id": task.execution_id, "tenant": task.tenant, "workflow_slug": task.workflow_slug,
              "step_id": task.step_id, "attempt": task.attempt, "due_at": due_ms, "reason": task.reason}
    await producer.send(
        retry_topic(settings, tier_for(max(0.0, task.due_at - time.time()))),
        records.encode("StepTask", record),
        key=task.execution_id,
        headers=[(DUE_AT_HEADER, str(due_ms)), (ATTEMPT_HEADER, str(task.attempt)),
                 (TARGET_HEADER, workflow_topic(settings, task.workflow_slug))],
    )


def header(msg: Any, name: str) -> str | None:
    """The text of header ``name`` of a consumed record, or None (absent, empty or not UTF-8)."""
    for key, value in msg.headers() or ():
        if key == name and value is not None:
            try:
                return bytes(value).decode()
            except UnicodeDecodeError:
                return None
    return None
