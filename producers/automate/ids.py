"""Ids that deduplicate because they are derived, not random (DESIGN.md, "Data")."""

from __future__ import annotations

import uuid

__all__ = ["execution_id"]


def execution_id(event_id: str, automation_id: str) -> str:
    """The execution an event starts for an automation: ``uuid5(event id, automation id)``.

    A redelivered event yields the same id, so the runtime creates its execution once.

    Raises:
        ValueError: ``event_id`` is not a UUID.
    """
    return str(uuid.uuid5(uuid.UUID(event_id), automation_id))
