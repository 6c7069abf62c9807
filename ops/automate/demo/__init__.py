"""The demo (``automate demo``): a realistic scenario on the local stack, every worker a process of its own.

The demo applies the workflows of ``examples/demo`` (tenant ``demo``), starts the pipeline's workers
through :class:`automate.supervise.WorkerSet` (processors, runtime workers, the retry worker, and the relay
when the outbox is published by it), sends one warm-up event through the whole pipeline, then emits a few
thousand ``order.created``, ``payment.received`` and ``user.signed_up`` events with ``emit_event``. From
the events it emitted and the workflows' own rules it knows which executions must follow, how each must
end, how many step attempts must be retried and how many must end in the dead-letter topic; it shows their
progress live (read from Postgres twice a second), waits until every one has finished, and prints a
summary: events, executions by workflow and status, retries per tier, dead letters, throughput, latency.
The exit code is 0 only when everything happened as expected.

Which executions must follow is asked of the processors' own trigger index and rules
(:mod:`automate.demo.expectations`); only the demo's own executions are counted, named by id
(``uuid5(event id, automation id)``, as the processors derive them).
"""

from __future__ import annotations

from automate.demo.events import DemoEvent, generate_events
from automate.demo.expectations import Expectations, Outcome
from automate.demo.preflight import load_workflows, preflight
from automate.demo.run import run_demo

__all__ = ["DemoEvent", "Expectations", "Outcome", "generate_events", "load_workflows", "preflight",
           "run_demo"]
