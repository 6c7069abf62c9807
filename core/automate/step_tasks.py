"""Step tasks: a step to run again later (a retry after its backoff, a durable wait, a replay), as the
``StepTask`` record that travels through a retry tier back to its workflow's topic.

The runtime defers a step by producing its task to the tier of its delay
(:func:`automate.topics.tier_for`), with three headers the retry worker reads without decoding the
record: when it is due, its attempt, and the workflow topic to put it back on; and the ``traceparent`` of
the step that deferred it, when it was traced (the retry worker passes every header on).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from automate import tracing
from automate.config import Settings
from automate.errors import ErrorCodes, RecordError
from automate.records import Records
from automate.topics import RETRY_TIERS, is_workflow_topic, retry_topic, tier_for, workflow_topic
from automate.tracing import TRACEPARENT

if TYPE_CHECKING:
    from automate.transport import AsyncProducer

__all__ = ["ATTEMPT_HEADER", "DUE_AT_HEADER", "HOPS_HEADER", "TARGET_HEADER", "StepTask", "header",
           "read_retry_headers", "send_step_task"]

DUE_AT_HEADER = "automate_due_at"  # epoch milliseconds
ATTEMPT_HEADER = "automate_attempt"
TARGET_HEADER = "automate_target"  # the workflow topic the task goes back to once due
HOPS_HEADER = "automate_hops"  # how often the retry worker moved the task to another tier (a long delay)
_LATEST_DUE_MS = 253_402_300_799_999  # 9999-12-31: a due time beyond is no time at all
CLOCK_SLACK_S = 60.0  # how far the clocks of the runtime and the retry worker may disagree


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
    headers: list[tuple[str, str | bytes | None]] = [
        (DUE_AT_HEADER, str(due_ms)), (ATTEMPT_HEADER, str(task.attempt)),
        (TARGET_HEADER, workflow_topic(settings, task.workflow_slug))]
    traceparent = tracing.current_traceparent()  # the step that defers: the resumed execution's parent
    if traceparent is not None:
        headers.append((TRACEPARENT, traceparent))
    record = {"execution_id": task.execution_id, "tenant": task.tenant, "workflow_slug": task.workflow_slug,
              "step_id": task.step_id, "attempt": task.attempt, "due_at": due_ms, "reason": task.reason}
    await producer.send(
        retry_topic(settings, tier_for(max(0.0, task.due_at - time.time()))),
        records.encode("StepTask", record),
        key=task.execution_id,
        headers=headers,
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


def read_retry_headers(settings: Settings, msg: Any) -> tuple[float, str]:
    """When a retry-tier record is due (epoch seconds) and the workflow topic it goes back to, read from
    its headers, trusting none of them.

    Raises:
        RecordError: The record cannot be forwarded (it is dead-lettered with the code):
            ``retry.headers_undecodable`` (headers or a needed value not UTF-8), ``retry.header_missing``,
            ``retry.due_at_invalid`` (not epoch milliseconds, or on a tier other than the longest,
            later than that tier's delay from now allows: it would hold the partition),
            ``retry.target_forbidden`` (not a workflow topic of ``settings``' topic prefix).
    """
    try:
        headers = msg.headers() or ()
    except (UnicodeDecodeError, ValueError, TypeError) as exc:  # keys the client cannot decode
        raise RecordError(ErrorCodes.RETRY_HEADERS_UNDECODABLE,
                          f"headers not readable: {exc}"[:300]) from None
    found: dict[str, str] = {}
    for key, value in headers:
        if key in (DUE_AT_HEADER, TARGET_HEADER) and value is not None:
            try:
                found[key] = bytes(value).decode()
            except UnicodeDecodeError:
                raise RecordError(ErrorCodes.RETRY_HEADERS_UNDECODABLE,
                                  f"header {key} is not UTF-8") from None
    missing = [name for name in (DUE_AT_HEADER, TARGET_HEADER) if not found.get(name)]
    if missing:
        raise RecordError(ErrorCodes.RETRY_HEADER_MISSING, f"header {', '.join(missing)} missing or empty")
    text = found[DUE_AT_HEADER]
    if not (text.isascii() and text.isdigit() and len(text) <= 15 and int(text) <= _LATEST_DUE_MS):
        raise RecordError(ErrorCodes.RETRY_DUE_AT_INVALID,
                          f"header {DUE_AT_HEADER} is not epoch milliseconds: {text[:40]!r}")
    due = int(text) / 1000
    tier = next((t for t in RETRY_TIERS[:-1] if retry_topic(settings, t) == msg.topic()), None)
    if tier is not None and due > time.time() + tier.delay_s + CLOCK_SLACK_S:
        raise RecordError(ErrorCodes.RETRY_DUE_AT_INVALID,
                          f"header {DUE_AT_HEADER} is later than the {tier.name} tier allows: {text}")
    target = found[TARGET_HEADER]
    if not is_workflow_topic(settings, target):
        raise RecordError(ErrorCodes.RETRY_TARGET_FORBIDDEN,
                          f"header {TARGET_HEADER} names no workflow topic of {settings.topic_prefix!r}: "
                          f"{target[:120]!r}")
    return due, target
