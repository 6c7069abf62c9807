"""Where database work finds its connection: the caller's transaction when one is ambient, else a pool.

``use_connection(conn)`` makes ``conn`` the ambient connection of the current context (a thread or an
asyncio task); the models, ``emit_event`` and ``run_workflow`` join its transaction instead of taking a
connection of their own. ``pool(settings)`` is the process's connection pool for one ``Settings``: opened
on first use, closed at interpreter exit or by :func:`close_pools`.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from automate.config import Settings

__all__ = [
    "close_pools",
    "current_aconnection",
    "current_connection",
    "pool",
    "use_aconnection",
    "use_connection",
]

_connection: ContextVar[psycopg.Connection[Any] | None] = ContextVar("automate_connection", default=None)
_aconnection: ContextVar[psycopg.AsyncConnection[Any] | None] = ContextVar(
    "automate_aconnection", default=None
)

# One pool per Settings (they are frozen, hence hashable); guarded because pools are shared by threads.
_pools: dict[Settings, ConnectionPool] = {}
_lock = threading.Lock()


def current_connection() -> psycopg.Connection[Any] | None:
    """The ambient connection set by :func:`use_connection` in this context, if any."""
    return _connection.get()


@contextmanager
def use_connection(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """Make ``conn`` ambient inside the block, so that database calls without ``using=`` join it.

    Nothing is committed or rolled back here: the transaction stays the caller's.
    """
    token = _connection.set(conn)
    try:
        yield conn
    finally:
        _connection.reset(token)


def current_aconnection() -> psycopg.AsyncConnection[Any] | None:
    """Async twin of :func:`current_connection`."""
    return _aconnection.get()


@contextmanager
def use_aconnection(conn: psycopg.AsyncConnection[Any]) -> Iterator[psycopg.AsyncConnection[Any]]:
    """Async twin of :func:`use_connection` (a plain ``with`` works inside a coroutine)."""
    token = _aconnection.set(conn)
    try:
        yield conn
    finally:
        _aconnection.reset(token)


def pool(settings: Settings) -> ConnectionPool:
    """The shared connection pool of the database named by ``settings``, opened on first use.

    A connection taken with ``pool(settings).connection()`` commits when its block ends normally.
    """
    with _lock:
        found = _pools.get(settings)
        if found is None or found.closed:
            found = ConnectionPool(
                settings.dsn, min_size=1, max_size=8, open=True, name="automate",
                kwargs={"application_name": "automate-producer", "connect_timeout": 10},
            )
            _pools[settings] = found
            # Registered once however many pools exist: closing at exit stops their worker threads.
            atexit.unregister(close_pools)
            atexit.register(close_pools)
        return found


def close_pools(settings: Settings | None = None) -> None:
    """Close the pool of ``settings``, or every pool when None; the next :func:`pool` call reopens."""
    with _lock:
        if settings is None:
            closing = list(_pools.values())
            _pools.clear()
        else:
            one = _pools.pop(settings, None)
            closing = [] if one is None else [one]
    for each in closing:
        each.close()
