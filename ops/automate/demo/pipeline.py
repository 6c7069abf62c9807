"""The demo's part in the pipeline: applying its workflows, emitting its events, a warm-up event through
every worker, and following the executions until each has finished."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from automate.config import Settings
from automate.db import connect
from automate.db.executions import ExecutionStore
from automate.demo.events import DemoEvent
from automate.demo.expectations import Expectations
from automate.demo.preflight import first_line
from automate.demo.tracker import Emitted, Tracker
from automate.demo.view import TERMINAL, View, console
from automate.errors import CheckFailed
from automate.ids import execution_id
from automate.processors.config import load_index
from automate.processors.index import TriggerIndex
from automate.runtime.workflows import WorkflowSpec
from automate.supervise import WorkerSet

__all__ = ["BATCH", "Emission", "apply_workflows", "emit_all", "follow", "warm_up"]

BATCH: Final = 20  # events per transaction at most
REFRESH_S: Final = 0.5


@dataclass
class Emission:
    """Filled by the emitting thread: (event id, type, payload index, emit time) per event."""

    done: list[Emitted] = field(default_factory=list)
    failure: BaseException | None = None
    finished: bool = False
    stop: threading.Event = field(default_factory=threading.Event)


def apply_workflows(settings: Settings, specs: list[WorkflowSpec]) -> tuple[dict[str, str], TriggerIndex]:
    """Apply (and enable) the demo's workflows; returns their automation ids by slug and the trigger
    index a processor now loads."""
    from automate.runtime.workflows.store import apply, get_workflow, set_enabled
    from automate.topics import core_topics, ensure_topics

    ensure_topics(settings, core_topics(settings))
    ids: dict[str, str] = {}
    with connect(settings) as conn:
        for spec in specs:
            # The demo's own files name the demo's one tenant (checked by the command): trusted.
            result = apply(conn, spec, settings, tenant_from_file=True)
            ids[spec.slug] = result.automation_id
            state = "applied as version" if result.created else "unchanged at version"
            console.print(f"  {result.tenant}/{result.slug}: {state} {result.version}")
            live = get_workflow(conn, result.slug, result.tenant)
            if live is not None and not live.automation.enabled:
                set_enabled(conn, result.slug, result.tenant, True)
                console.print(f"  {result.tenant}/{result.slug}: was disabled, enabled it")
        return ids, load_index(conn)


def emit_all(settings: Settings, tenant: str, events: list[DemoEvent], rate: float, out: Emission) -> None:
    """Emit ``events`` at ``rate`` per second (0: as fast as possible), up to :data:`BATCH` per
    transaction; meant for a thread of its own (a failure is left in ``out.failure``)."""
    from automate.events import emit_event

    try:
        with connect(settings, application_name="automate-demo-emit") as conn:
            began = time.perf_counter()
            i = 0
            while i < len(events) and not out.stop.is_set():
                size = min(BATCH, len(events) - i)
                if rate > 0:
                    due = began + i / rate
                    while (now := time.perf_counter()) < due:
                        time.sleep(min(0.005, due - now))
                    # At a target rate each transaction holds what is due by now.
                    size = max(1, min(size, int((time.perf_counter() - began) * rate) - i + 1))
                batch = events[i:i + size]
                ids = [emit_event(e.type, e.payload, tenant=tenant, connection=conn, settings=settings)
                       for e in batch]
                stamp = time.time()
                conn.commit()
                out.done.extend((ident, e.type, i + k, stamp)
                                for k, (ident, e) in enumerate(zip(ids, batch, strict=True)))
                i += size
    except BaseException as exc:  # reported by the command
        out.failure = exc
    finally:
        out.finished = True


def warm_up(settings: Settings, expectations: Expectations, workers: WorkerSet, refresh: Callable[[], None],
            timeout: float = 120.0) -> None:
    """Sign-ups through the whole pipeline (publisher, processors, runtime) until one has finished: the
    workers are then in their consumer groups and have loaded the workflows. Not counted in the numbers;
    sent again every 15 s while none gets through."""
    from automate.events import emit_event

    payload = {"user_id": "warm-up", "email": "warm-up@example.com", "plan": "free", "warm_up": True}
    welcome = next(iter(expectations.matching("user.signed_up", payload, str(uuid.uuid4()))), None)
    if welcome is None:
        return
    deadline = time.monotonic() + timeout
    sent: list[str] = []
    next_send = 0.0
    with connect(settings, autocommit=True) as conn:
        store = ExecutionStore(conn)
        while time.monotonic() < deadline:
            if time.monotonic() >= next_send:
                event_id = emit_event("user.signed_up", payload, tenant=expectations.tenant,
                                      settings=settings)
                sent.append(execution_id(event_id, expectations.automation_ids[welcome]))
                next_send = time.monotonic() + 15.0
            if any(status in TERMINAL for status in store.statuses(sent).values()):
                return
            dead = workers.dead()
            if dead:
                raise CheckFailed(f"worker(s) exited during the warm-up: {', '.join(dead)}; "
                                  f"see their logs in {workers.log_dir}")
            refresh()
            time.sleep(0.2)
    hint = " and `automate logs connect`" if settings.publisher == "debezium" else ""
    raise CheckFailed(f"no warm-up event got through the pipeline within {timeout:.0f}s (no finished "
                      f"{welcome} execution); see the worker logs in {workers.log_dir}{hint}")


def follow(view: View, tracker: Tracker, emission: Emission, workers: WorkerSet, refresh: Callable[[], None],
           timeout_s: float) -> None:
    """Refresh the view from Postgres until every expected execution has finished (or fail)."""
    deadline: float | None = None
    while True:
        tracker.sync(emission.done)
        view.emitted = tracker.synced
        view.counts = tracker.refresh()
        view.retries = tracker.retries()
        refresh()
        if emission.failure is not None:
            raise CheckFailed(f"emitting failed: {type(emission.failure).__name__}: "
                              f"{first_line(emission.failure)}")
        dead = workers.dead()
        if dead:
            raise CheckFailed(f"worker(s) exited: {', '.join(dead)}; see their logs in {workers.log_dir}")
        if emission.finished and tracker.synced == len(emission.done):
            if deadline is None:
                deadline = time.monotonic() + timeout_s
                view.phase = "waiting for the last executions"
            unfinished = sum(n for c in view.counts.values() for s, n in c.items() if s not in TERMINAL)
            if unfinished == 0:
                view.phase = "done: every expected execution has finished"
                return
            if time.monotonic() > deadline:
                missing = []
                for slug, c in view.counts.items():
                    parts = [f"{c[s]} {'not created' if s == 'MISSING' else s}"
                             for s in ("MISSING", "PENDING", "RUNNING") if c[s]]
                    if parts:
                        missing.append(f"{slug}: {', '.join(parts)}")
                raise CheckFailed(f"not finished within {timeout_s:g}s after the last event: "
                                  f"{'; '.join(missing)}; see the worker logs in {workers.log_dir}")
        time.sleep(REFRESH_S)
