"""Helpers of the Debezium-per-installation tests: an installation of a test's own publishing through the
local Kafka Connect (always removed with its slot and publication before its database is dropped),
events emitted in it and found again on Kafka."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from automate.config import Settings
from automate.db import set_publisher
from automate.db.cdc import CdcStore, SlotState
from automate.errors import AutomateError
from automate.events import emit_event
from automate.stack.base import http_json
from automate.stack.cdc import (
    OutboxNames,
    default_names,
    outbox_connector_status,
    remove_outbox_connector,
    task_states,
)
from tests.conftest import fresh_database
from tests.support import assert_eventually, consume, header


@contextmanager
def debezium_installation(stack: Settings, template_db: str, **overrides: Any) -> Iterator[Settings]:
    """A fresh database and topic prefix whose outbox is bound to Debezium (its connector is not registered
    yet: ``ensure_outbox_connector`` does that); on exit its connector, slot and publication are removed."""
    with fresh_database(stack, template_db) as base:
        settings = Settings(**{**base.model_dump(), "publisher": "debezium", **overrides})
        with psycopg.connect(settings.dsn) as conn:
            set_publisher(conn, "debezium")
        try:
            yield settings
        finally:
            _remove(Settings(**{**base.model_dump(), "publisher": "debezium"}))


def _remove(settings: Settings, timeout: float = 90.0) -> None:
    """Remove the installation's connector, slot and publication, waiting out a Postgres or Connect that
    restarts meanwhile (other suites restart the shared stack): a slot left behind would keep its database
    from being dropped and WAL from being recycled."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            remove_outbox_connector(settings)
            return
        except (AutomateError, psycopg.OperationalError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def slot_state(settings: Settings, slot: str) -> SlotState | None:
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        return CdcStore(conn).slot_state(slot)


def publication_exists(settings: Settings, name: str) -> bool:
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone() is not None


def states(settings: Settings, names: OutboxNames | None = None) -> list[str]:
    return task_states(outbox_connector_status(settings, names or default_names(settings)))


def wait_publishing(settings: Settings, timeout: float = 90.0, names: OutboxNames | None = None) -> None:
    """Until the installation's connector and task are RUNNING and a reader streams from its slot (from
    then on, an event committed is published: the slot exists and is read)."""
    names = names or default_names(settings)

    def publishing() -> bool:
        state = slot_state(settings, names.slot)
        return states(settings, names) == ["RUNNING", "RUNNING"] and state is not None and state.active

    assert_eventually(publishing, timeout=timeout, interval=0.3)


def connector_config(settings: Settings, name: str) -> dict[str, Any] | None:
    config: dict[str, Any] | None = http_json("GET", f"{settings.connect_base_url}/connectors/{name}/config")
    return config


def emit(settings: Settings, count: int = 3, event_type: str = "user.signed_up") -> set[str]:
    """``count`` events committed in the installation's outbox; their ids."""
    with psycopg.connect(settings.dsn) as conn:
        ids = {emit_event(event_type, {"n": i}, connection=conn, settings=settings) for i in range(count)}
        conn.commit()
    return ids


def published_ids(settings: Settings, expected: set[str], timeout: float = 90.0) -> set[str]:
    """Every event id on the installation's events topic, read until ``expected`` are among them."""
    def seen(messages: list[Any]) -> set[str]:
        return {(header(m, "ce_id") or b"").decode() for m in messages}

    messages = consume(settings.bootstrap_servers, settings.topic("events"),
                       lambda m: seen(m) >= expected, timeout=timeout)
    return seen(messages)
