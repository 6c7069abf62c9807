"""The producer API: emit business events and start workflows inside the caller's transaction.

``emit_event`` writes one outbox row in the transaction it finds, in this order: the ``connection``
argument; the ambient transaction of :func:`transaction` / :func:`atransaction`; Django's connection
inside ``transaction.atomic()``; else a transaction of its own. If that transaction rolls back, nothing
is published; if it commits, the event is published exactly once (Debezium or the relay).
"""

from __future__ import annotations

from automate.errors import (
    EventError,
    InvalidEventType,
    PayloadNotSerializable,
    PayloadTooLarge,
    SchemaNotRegistered,
    SchemaViolation,
    UnknownEventType,
    UnknownWorkflow,
)
from automate.events.api import (
    aemit_event,
    arun_workflow,
    atransaction,
    emit_event,
    run_workflow,
    transaction,
)

__all__ = [
    "EventError",
    "InvalidEventType",
    "PayloadNotSerializable",
    "PayloadTooLarge",
    "SchemaNotRegistered",
    "SchemaViolation",
    "UnknownEventType",
    "UnknownWorkflow",
    "aemit_event",
    "arun_workflow",
    "atransaction",
    "emit_event",
    "run_workflow",
    "transaction",
]
