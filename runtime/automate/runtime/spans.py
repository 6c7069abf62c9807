"""The runtime's spans (see :mod:`automate.tracing`): one per record it handles (an execution started or
resumed) under the record's ``traceparent``, and one per step under it. Records without a trace get none."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from automate import tracing
from automate.errors import ErrorCodes

__all__ = ["ended", "handling", "recorded", "step"]


def handling(msg: Any, name: str, record: dict[str, Any]) -> AbstractContextManager[None]:
    """The span of one workflow-topic record (``name``: ExecutionRequest or StepTask), when it is traced."""
    try:
        traceparent = tracing.header_traceparent(msg.headers())
    except Exception:  # (a header the client cannot decode: the record is handled, untraced)
        traceparent = None
    if traceparent is None:
        return nullcontext()
    slug = str(record.get("workflow_slug") or "")[:200]
    verb = "execute" if name == "ExecutionRequest" else "resume"
    return tracing.span(f"{verb} {slug}", kind=tracing.SpanKind.CONSUMER, parent=traceparent, attributes={
        "messaging.system": "kafka", "messaging.destination.name": msg.topic(),
        "messaging.kafka.message.offset": msg.offset(), "automate.execution_id": record["execution_id"],
        "automate.workflow": slug, "automate.tenant": str(record.get("tenant") or "")[:255]})


def step(step_id: str, action: str, attempt: int, reason: str) -> AbstractContextManager[None]:
    """The span of one step's run."""
    return tracing.span(f"step {step_id}", attributes={
        "automate.step": step_id, "automate.action": action, "automate.attempt": attempt,
        "automate.reason": reason})


def recorded(status: str, attempt: int, error: dict[str, Any] | None) -> None:
    """A step's recorded result on its span: the status, and a failed or retried attempt's error code as
    the span's status (a durable wait is no failure)."""
    failed = error is not None and status in ("FAILED", "RETRYING") and error["code"] != ErrorCodes.STEP_WAIT
    tracing.annotate({"automate.status": status, "automate.attempt": attempt},
                     error=str(error["code"]) if failed and error is not None else None)


def ended(outcome: Any) -> None:
    """What handling the record came to, on its span (an execution that failed: the span's status too)."""
    failed = str(outcome) == "FAILED"
    tracing.annotate({"automate.outcome": str(outcome)}, error=ErrorCodes.EXECUTION if failed else None)
