"""The processors: from events on ``automate.events`` to execution requests on ``automate.workflow.<slug>``.

:class:`TriggerIndex` finds an event's candidate automations by tenant and type, :class:`Router` evaluates
their rules and builds the requests, :class:`ProcessorWorker` runs it on Kafka (``automate processors``),
and :class:`ConfigWatcher` keeps the index current as workflows are applied, enabled and disabled.
"""

from __future__ import annotations

from automate.processors.config import ConfigWatcher, load_index
from automate.processors.decoding import EventSchemas
from automate.processors.index import Candidate, Target, TriggerIndex, TriggerRow
from automate.processors.router import Request, Routed, Router, matching_targets
from automate.processors.worker import ProcessorWorker, run_processors

__all__ = [
    "Candidate",
    "ConfigWatcher",
    "EventSchemas",
    "ProcessorWorker",
    "Request",
    "Routed",
    "Router",
    "Target",
    "TriggerIndex",
    "TriggerRow",
    "load_index",
    "matching_targets",
    "run_processors",
]
