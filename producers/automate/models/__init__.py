"""Typed rows of Automate's state with a small Django-like API (a repository over psycopg, not an ORM).

    execution = Execution.objects.create(automation=automation, context={"order_id": "ORD-123"})
    execution.refresh_from_db()
    Execution.objects.filter(automation=automation, status__in=["PENDING", "RUNNING"], order_by="-created_at")

Each call joins the ``using=`` connection, else the ambient one (``automate.db.context.use_connection``,
``automate.events.transaction``), else takes one from the shared pool of ``settings``.
"""

from __future__ import annotations

from automate.errors import DoesNotExist, MultipleObjectsReturned
from automate.models.entities import Automation, Execution, StepRun, Workflow

__all__ = ["Automation", "DoesNotExist", "Execution", "MultipleObjectsReturned", "StepRun", "Workflow"]
