"""Before the demo starts: its workflow files, and a stack that is up, migrated and publishing.

Each check that fails raises :class:`~automate.errors.CheckFailed` with one line naming the fix.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from automate.config import Settings
from automate.db import applied_versions, connect, current_publisher
from automate.db.cdc import CdcStore
from automate.errors import AutomateError, CheckFailed, WorkflowValidationError
from automate.runtime.actions import registry
from automate.runtime.workflows import WorkflowSpec, definition_files, read_definition, validate
from automate.transport import broker_ready

__all__ = ["first_line", "load_workflows", "preflight"]


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def load_workflows(directory: Path) -> list[WorkflowSpec]:
    """The valid workflows of ``directory``; CheckFailed names the first fault of an invalid one."""
    files = definition_files(directory) if directory.is_dir() else []
    if not files:
        raise CheckFailed(f"no workflow files (.yaml, .yml, .json) in {directory}")
    specs: list[WorkflowSpec] = []
    for file in files:
        try:
            specs.append(validate(read_definition(file), registry.names()))
        except WorkflowValidationError as exc:
            path, message = exc.faults[0]
            raise CheckFailed(f"{file}: invalid ({path}: {message}); see `automate workflows apply -f {file}`"
                              ) from None
    return specs


def preflight(settings: Settings) -> None:
    """The database reachable and migrated, the outbox bound to the settings' publisher, Kafka
    reachable, and with Debezium, its connector streaming."""
    try:
        with connect(settings, connect_timeout=5) as conn:
            if not applied_versions(conn):
                raise CheckFailed("the database has no schema yet; run `automate migrate`")
            bound = current_publisher(conn)
    except psycopg.OperationalError as exc:
        raise CheckFailed(f"cannot reach the database ({first_line(exc)}); is the stack up? run `automate up`"
                          ) from None
    if bound != settings.publisher:
        raise CheckFailed(f"the outbox is bound to publisher {bound or 'none'}, the settings say "
                          f"{settings.publisher}; run `automate migrate`")
    if not broker_ready(settings.bootstrap_servers, timeout=5.0, settings=settings):
        raise CheckFailed(f"cannot reach Kafka at {settings.bootstrap_servers}; is the stack up? run "
                          "`automate up`")
    if settings.publisher == "debezium":
        wait_for_connector(settings)


def wait_for_connector(settings: Settings, timeout: float = 60.0) -> None:
    """The Debezium connector and its task running, its replication slot in use: an event written before
    the slot streams would never be published (a connector registered by the `automate migrate` just
    before takes a few seconds to get there)."""
    from automate.stack.cdc import outbox_connector_status, outbox_names

    names = outbox_names(settings)
    slot = names.slot
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = outbox_connector_status(settings, names)
        except AutomateError as exc:
            raise CheckFailed(f"cannot reach Kafka Connect ({first_line(exc)}); is the stack up? run "
                              "`automate up`") from None
        if status is None:
            raise CheckFailed("the Debezium outbox connector is not registered; run `automate migrate`")
        states = [status.get("connector", {}).get("state")]
        states += [t.get("state") for t in status.get("tasks", [])]
        if "FAILED" in states:
            raise CheckFailed("the Debezium outbox connector has failed; run `automate migrate` (it restarts "
                              "it) and see `automate logs connect`")
        running = len(states) > 1 and all(state == "RUNNING" for state in states)
        with connect(settings, autocommit=True) as conn:
            active = CdcStore(conn).slot_active(slot)
        if running and active:
            return
        if time.monotonic() > deadline:
            raise CheckFailed(f"the Debezium outbox connector is not streaming after {timeout:.0f}s (states "
                              f"{', '.join(map(str, states))}, slot {slot} "
                              f"{'active' if active else 'not active'}); see `automate logs connect`")
        time.sleep(1.0)
