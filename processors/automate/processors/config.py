"""Keeping the processors' trigger index current: LISTEN automate_config, with a periodic re-read.

``automate workflows apply`` and ``enable``/``disable`` send ``NOTIFY automate_config`` in the transaction
that changes the automation, so the notification arrives exactly when the change is visible. The watcher
(a daemon thread with its own connection) then re-reads every live trigger (one query) and builds a new
index, which the caller swaps in. Notifications arriving together are coalesced. A lost connection is
re-opened with backoff, and the index re-read on reconnect (notifications sent meanwhile are gone);
``config_poll_interval_s`` bounds the staleness should a notification ever be missed.

Why not a compacted config topic: Postgres is where automations live and the notification is part of the
transaction that changes them. A topic would need its own outbox path to stay consistent with the tables,
for no gain at this rate of change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from automate.config import Settings
from automate.db.workflows import WorkflowStore
from automate.errors import DatabaseError
from automate.processors.index import TriggerIndex, TriggerRow

__all__ = ["ConfigWatcher", "load_index"]

log = logging.getLogger("automate.processors.config")

_COALESCE_S = 0.05


def load_index(conn: psycopg.Connection[Any]) -> TriggerIndex:
    """Build the trigger index from the live triggers in the database."""
    rows = WorkflowStore(conn).live_triggers()
    return TriggerIndex(TriggerRow(str(r[0]), r[1], r[2], int(r[3]), r[4], r[5]) for r in rows)


class ConfigWatcher:
    """Calls ``on_index`` with a fresh index at start, on every change and every poll interval."""

    def __init__(self, settings: Settings, on_index: Callable[[TriggerIndex], None]) -> None:
        self.settings = settings
        self.on_index = on_index
        self.reloads = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="automate-config-watcher", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        """Start watching; returns once the first index is loaded (DatabaseError otherwise)."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise DatabaseError(f"could not load the automations from the database within {timeout:.0f}s",
                                retryable=True)

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def stop(self) -> None:
        self._stop.set()
        if self.started:
            self._thread.join(5)

    def _reload(self, conn: psycopg.Connection[Any]) -> None:
        started = time.perf_counter()
        index = load_index(conn)
        self.on_index(index)
        self.reloads += 1
        self._ready.set()
        log.info("automations loaded", extra={"action": "processors.config_loaded", "automations": len(index),
                                              "ms": round((time.perf_counter() - started) * 1000, 1)})

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.settings.dsn, autocommit=True,
                                     application_name="automate-processors-config") as conn:
                    WorkflowStore(conn).listen_for_changes()
                    self._reload(conn)
                    backoff = 0.2
                    self._listen(conn)
            except psycopg.Error as exc:
                log.warning("configuration connection lost; reconnecting",
                            extra={"action": "processors.config_reconnect", "error": str(exc)[:300]})
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        poll = self.settings.config_poll_interval_s
        next_poll = time.monotonic() + poll
        while not self._stop.is_set():
            # Wake at least every second to notice stop(); a notification ends the wait at once.
            timeout = max(0.0, min(1.0, next_poll - time.monotonic()))
            changed = any(True for _ in conn.notifies(timeout=timeout, stop_after=1))
            if changed:
                # Coalesce a burst (e.g. `workflows apply -f dir/`) into one reload.
                for _ in conn.notifies(timeout=_COALESCE_S):
                    pass
            if changed or time.monotonic() >= next_poll:
                self._reload(conn)
                next_poll = time.monotonic() + poll
