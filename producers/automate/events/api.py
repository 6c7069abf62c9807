"""emit_event / run_workflow and their async twins; where they find the caller's transaction."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from typing import Any

import psycopg

from automate import tracing
from automate.config import Settings, get_settings
from automate.db.context import (
    current_aconnection,
    current_connection,
    pool,
    use_aconnection,
    use_connection,
)
from automate.events.emitter import Emitter
from automate.events.workflows import WorkflowStarter

__all__ = ["aemit_event", "arun_workflow", "atransaction", "emit_event", "run_workflow", "transaction"]

_emitters: dict[int, tuple[Settings, Emitter]] = {}


def _emitter(settings: Settings) -> Emitter:
    """The Emitter of ``settings`` (by identity: hashing a Settings costs more than emitting's own work)."""
    found = _emitters.get(id(settings))
    if found is None or found[0] is not settings:
        if len(_emitters) >= 64:  # a caller making new Settings per call: do not grow without bound
            _emitters.clear()
        found = _emitters[id(settings)] = (settings, Emitter(settings))
    return found[1]


def _settings(settings: Settings | None) -> Settings:
    return settings or get_settings()


@contextmanager
def transaction(settings: Settings | None = None) -> Iterator[psycopg.Connection[Any]]:
    """Open a transaction that ``emit_event`` and ``run_workflow`` join without a ``connection=``.

    Yields the connection so the caller's own business writes share the transaction; commits on
    normal exit, rolls back on an exception.
    """
    with pool(_settings(settings)).connection() as conn, conn.transaction(), use_connection(conn):
        yield conn


@asynccontextmanager
async def atransaction(settings: Settings | None = None) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """Async twin of :func:`transaction` (a connection of its own, not pooled)."""
    conn = await psycopg.AsyncConnection.connect(_settings(settings).dsn)
    try:
        async with conn.transaction():
            with use_aconnection(conn):
                yield conn
    finally:
        await conn.close()


def _django_atomic_connection() -> Any | None:
    """Django's default connection when called inside ``transaction.atomic()``; else None."""
    if "django" not in sys.modules:
        return None
    from django.conf import settings as django_settings  # type: ignore[import-untyped]

    if not django_settings.configured:
        return None
    from django.db import connection  # type: ignore[import-untyped]

    return connection if connection.in_atomic_block else None


def _producer_span(settings: Settings, verb: str, field: str, name: object,
                   tenant: object) -> AbstractContextManager[None]:
    """The span of ``emit <type>`` or ``run <slug>`` (a child of the caller's current span, else a new
    trace); the row written inside carries its context. Without a recording tracer, none: the row carries
    the caller's current context, if any."""
    if not tracing.enabled():
        return nullcontext()
    text = str(name)[:200]
    return tracing.span(f"{verb} {text}", kind=tracing.SpanKind.PRODUCER, start_trace=True,
                        attributes={field: text, "automate.tenant": str(tenant or settings.tenant)[:255]})


def emit_event(
    type: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    *,
    tenant: str | None = None,
    key: str | None = None,
    connection: psycopg.Connection[Any] | None = None,
    settings: Settings | None = None,
) -> str:
    """Write an event to the outbox in the caller's transaction; returns the event id.

    Args:
        type: Event type, e.g. ``order.created``; ``schemas/events/<type>.avsc`` is its contract if present.
        payload: The event data, a JSON object.
        dedupe_key: Emitting again with the same key (per tenant) writes nothing and returns the
            first event's id, also under concurrent callers.
        tenant: Defaults to the settings' tenant.
        key: The Kafka record key; defaults to the dedupe key, else the event id.
        connection: A psycopg connection whose transaction to join.
        settings: Defaults to the process's settings.

    Raises:
        EventError: a subclass naming what is wrong; nothing was written.
    """
    s = _settings(settings)
    emitter = _emitter(s)
    with _producer_span(s, "emit", "automate.event_type", type, tenant):
        conn = connection or current_connection()
        if conn is not None:
            return emitter.emit(conn, type, payload, dedupe_key=dedupe_key, tenant=tenant, key=key)
        django_conn = _django_atomic_connection()
        if django_conn is not None:
            contract, typed = emitter.contract_for(type)
            with django_conn.cursor() as cur:
                row = emitter.build(type, payload, emitter.schema_id(cur, contract), contract, typed,
                                    dedupe_key=dedupe_key, tenant=tenant, key=key)
                return emitter.write(cur, row)
        with pool(s).connection() as own:
            return emitter.emit(own, type, payload, dedupe_key=dedupe_key, tenant=tenant, key=key)


async def aemit_event(
    type: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    *,
    tenant: str | None = None,
    key: str | None = None,
    connection: psycopg.AsyncConnection[Any] | None = None,
    settings: Settings | None = None,
) -> str:
    """Async twin of :func:`emit_event` for psycopg's AsyncConnection."""
    s = _settings(settings)
    emitter = _emitter(s)
    with _producer_span(s, "emit", "automate.event_type", type, tenant):
        conn = connection or current_aconnection()
        if conn is not None:
            return await emitter.aemit(conn, type, payload, dedupe_key=dedupe_key, tenant=tenant, key=key)
        async with await psycopg.AsyncConnection.connect(s.dsn) as own:
            return await emitter.aemit(own, type, payload, dedupe_key=dedupe_key, tenant=tenant, key=key)


def run_workflow(
    workflow_slug: str,
    payload: dict[str, Any],
    *,
    tenant: str | None = None,
    connection: psycopg.Connection[Any] | None = None,
    settings: Settings | None = None,
) -> str:
    """Create an execution of the workflow's live version and its request, bypassing rules.

    The execution row and the outbox row addressed to ``automate.workflow.<slug>`` are written in one
    transaction (the caller's, found as for :func:`emit_event`). Returns the execution id.

    Raises:
        UnknownWorkflow: no enabled automation with that slug and a live version for the tenant.
    """
    s = _settings(settings)
    starter = WorkflowStarter(_emitter(s))
    with _producer_span(s, "run", "automate.workflow", workflow_slug, tenant):
        conn = connection or current_connection()
        if conn is not None:
            return starter.start(conn, workflow_slug, payload, tenant=tenant)
        with pool(s).connection() as own:
            return starter.start(own, workflow_slug, payload, tenant=tenant)


async def arun_workflow(
    workflow_slug: str,
    payload: dict[str, Any],
    *,
    tenant: str | None = None,
    connection: psycopg.AsyncConnection[Any] | None = None,
    settings: Settings | None = None,
) -> str:
    """Async twin of :func:`run_workflow`."""
    s = _settings(settings)
    starter = WorkflowStarter(_emitter(s))
    with _producer_span(s, "run", "automate.workflow", workflow_slug, tenant):
        conn = connection or current_aconnection()
        if conn is not None:
            return await starter.astart(conn, workflow_slug, payload, tenant=tenant)
        async with await psycopg.AsyncConnection.connect(s.dsn) as own:
            return await starter.astart(own, workflow_slug, payload, tenant=tenant)
