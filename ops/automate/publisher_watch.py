"""The publisher's health, and the watch that keeps the Debezium path publishing without a human.

**Health** (:func:`publisher_health`, shown by ``automate status``): for Debezium, the connector's and its
task's states in Connect, whether a reader streams from the replication slot and how many bytes of WAL the
slot's confirmed position is behind the server's; for the relay, the outbox rows waiting and the age of
the oldest.

**The watch** (``automate publisher-watch``, a worker beside the processors wherever Debezium publishes;
:class:`~automate.supervise.WorkerSet` starts one): every ``publisher_probe_interval_s``, while the outbox
is bound to Debezium (once `automate migrate` binds it to the relay, never both publishers on one table:
the watch leaves the connector alone), it

* re-registers the connector when Connect does not have it (a standalone worker forgets connectors made
  over REST when it restarts; the offsets it kept resume them);
* restarts a FAILED connector or task (creating the publication again first, in case it was dropped),
  backing off while it keeps failing (the probe interval doubled per restart in a row, at most 5 min);
* writes a probe (a row inserted and deleted in one transaction, that the connector reads through the
  outbox's publication and drops before Kafka) and restarts the task when a probe stays unread and the
  slot's confirmed position has not moved for ``publisher_stall_after_s``: a task that is RUNNING but no
  longer reads its slot (a half-open connection after a database restart is the known case), ending the
  server process that still holds the slot. A slot that moves is being read, however far behind (but
Debezium confirms positions at transaction ends: one transaction that takes longer than the setting to
stream would be taken for a stall).

Connect confirms a position to the slot only after the records before it are acknowledged by Kafka, so a
probe confirmed means everything committed before it is on Kafka. Every restart is logged and counted
(``automate_publisher_restarts_total{reason}``). Several watches may run: one per installation acts (a
Postgres advisory lock), the others stand by. A PAUSED connector is an operator's decision and is left
alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from automate.config import Settings
from automate.db import connect, current_publisher
from automate.db.cdc import CdcStore
from automate.errors import AutomateError
from automate.stack.cdc import (
    OutboxNames,
    ensure_outbox_connector,
    installation_id,
    outbox_connector_status,
    outbox_names,
    task_states,
)

__all__ = ["PublisherHealth", "PublisherWatch", "publisher_health", "run_publisher_watch"]

log = logging.getLogger(__name__)


@dataclass
class PublisherHealth:
    publisher: str
    working: bool  # Debezium: connector and task RUNNING, slot read; relay: nothing waits for long
    connector: str | None = None
    states: list[str] = field(default_factory=list)  # the connector's, then each task's
    slot: str | None = None
    slot_active: bool | None = None
    behind_bytes: int | None = None  # Debezium: WAL past the slot's confirmed position
    waiting: int | None = None  # relay: outbox rows not yet published
    oldest_s: float | None = None  # relay: age of the oldest of them
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def summary(self) -> str:
        if self.publisher == "relay":
            return (f"relay: {self.waiting} outbox rows waiting"
                    + (f", oldest {self.oldest_s:.1f}s" if self.oldest_s else ""))
        parts = [f"debezium: connector {self.connector} {'/'.join(self.states) or 'absent'}",
                 f"slot {self.slot} {'read' if self.slot_active else 'not read'}"]
        if self.behind_bytes is not None:
            parts.append(f"{self.behind_bytes} bytes of WAL behind")
        return ", ".join(parts) + (f" ({self.problem})" if self.problem else "")


def publisher_health(settings: Settings) -> PublisherHealth:
    """How the installation's publisher is doing now (reads only; see the module docstring)."""
    if settings.publisher == "relay":
        from automate_core.outbox.store import SkipLockedClaimOutboxStore

        store = SkipLockedClaimOutboxStore(settings=settings)
        try:
            waiting, oldest = store.waiting()
        finally:
            store.close()
        return PublisherHealth("relay", working=oldest is None or oldest < 60, waiting=waiting,
                               oldest_s=oldest)
    health = PublisherHealth("debezium", working=False)
    try:
        names = outbox_names(settings)
        health.connector, health.slot = names.connector, names.slot
        health.states = task_states(outbox_connector_status(settings, names))
        with connect(settings, autocommit=True) as conn:
            state = CdcStore(conn).slot_state(names.slot)
    except AutomateError as exc:
        health.problem = str(exc).splitlines()[0]
        return health
    if state is not None:
        health.slot_active, health.behind_bytes = state.active, state.behind_bytes
    health.working = (len(health.states) > 1 and all(s == "RUNNING" for s in health.states)
                      and bool(health.slot_active))
    if not health.states:
        health.problem = "not registered in Kafka Connect"
    elif state is None:
        health.problem = "no replication slot"
    return health


class _Metrics:
    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge

        self.up = Gauge("automate_publisher_up", "1 when the Debezium connector and its task run and read "
                        "the slot", registry=registry)
        self.behind = Gauge("automate_publisher_behind_bytes", "WAL past the slot's confirmed position",
                            registry=registry)
        self.probe_age = Gauge("automate_publisher_probe_age_seconds",
                               "Age of the oldest probe not yet read by the connector (0: none waits)",
                               registry=registry)
        self.restarts = Counter("automate_publisher_restarts", "Connector or task restarts by the watch",
                                ["reason"], registry=registry)
        for reason in ("absent", "failed", "stalled"):
            self.restarts.labels(reason)


class PublisherWatch:
    """One installation's watch (see the module docstring); :meth:`round` is one check."""

    def __init__(self, settings: Settings, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry

        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()  # what /metrics serves
        self.metrics = _Metrics(self.registry)
        self.restarts: dict[str, int] = {"absent": 0, "failed": 0, "stalled": 0}
        self._probes: deque[tuple[int, float]] = deque()  # (position before the probe, written at)
        self._confirmed: int | None = None  # the slot's confirmed position when last seen to move
        self._moved_at = time.monotonic()
        self._failed_streak = 0  # restarts of a FAILED task in a row, for the backoff
        self._failed_retry_at = 0.0
        self._names: OutboxNames | None = None
        self._lock_conn: Any = None
        self._last_problem: str | None = None
        self.stop_event = threading.Event()

    def _restarted(self, reason: str, detail: str) -> None:
        self.restarts[reason] += 1
        self.metrics.restarts.labels(reason).inc()
        log.warning("publisher watch: %s; restarted (%s, %d so far)", detail, reason, self.restarts[reason])

    def _problem(self, text: str | None) -> None:
        """Log a problem once when it appears, and once when it is gone."""
        if text != self._last_problem:
            if text is None:
                log.info("publisher watch: the connector is publishing again")
            else:
                log.warning("publisher watch: %s", text)
            self._last_problem = text

    def leading(self) -> bool:
        """Whether this watch holds the installation's lock (takes it when free)."""
        if self._lock_conn is not None:
            try:  # a session lock lasts as long as its connection: one lost (a restart) is noticed here
                CdcStore(self._lock_conn).ping()
                return True
            except Exception:
                log.warning("publisher watch: lost the connection holding the watch's lock; taking it again")
                with contextlib.suppress(Exception):
                    self._lock_conn.close()
                self._lock_conn = None
        installation = installation_id(self.settings)
        key = int.from_bytes(hashlib.sha256(f"publisher-watch {installation}".encode()).digest()[:8], "big",
                             signed=True)
        conn = self._connect()
        if CdcStore(conn).try_watch_lock(key):
            self._lock_conn = conn
            log.info("publisher watch: watching installation %s", installation)
            return True
        conn.close()
        return False

    def _connect(self) -> Any:
        """A connection whose loss is noticed: TCP keepalives end a half-open one within ~25 s, so the
        watch itself never hangs on the failure it exists to repair."""
        return connect(self.settings, autocommit=True, application_name="automate-publisher-watch",
                       keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)

    def _restart_failed(self, names: OutboxNames, states: list[str], status: dict[str, Any]) -> None:
        """Restart a FAILED connector or task, backing off (probe interval doubled per restart in a row,
        at most 5 minutes) while it keeps failing: a task that fails for good is not restarted in a loop."""
        now = time.monotonic()
        if now < self._failed_retry_at:
            self._problem(f"connector {names.connector} {'/'.join(states)}; restarted {self._failed_streak} "
                          f"times in a row, next in {self._failed_retry_at - now:.0f}s")
            return
        self._failed_streak += 1  # counted first: a restart that raises backs off too
        self._failed_retry_at = now + min(300.0, self.settings.publisher_probe_interval_s
                                          * 2 ** self._failed_streak)
        self._probes.clear()
        traces = [str(t.get("trace") or "").splitlines()[:1] for t in status.get("tasks", [])]
        self._restarted("failed", f"connector {names.connector} {'/'.join(states)} "
                        f"({'; '.join(t[0] for t in traces if t)[:300]}): "
                        f"{ensure_outbox_connector(self.settings)}")

    def round(self) -> None:
        """One check: the connector's presence and state, a probe, the slot's progress."""
        if self._names is None:
            self._names = outbox_names(self.settings)
        names = self._names
        with self._connect() as conn:
            bound = current_publisher(conn)
        if bound != "debezium":
            # `automate migrate` switched to the relay (removing the connector, or about to) while this watch
            # ran: registering or restarting it would put two publishers on one table.
            self._probes.clear()
            self._problem(f"the outbox is bound to {bound or 'no publisher'}, not Debezium: connector "
                          f"{names.connector} is left alone (stop this watch)")
            return
        status = outbox_connector_status(self.settings, names)
        states = task_states(status)
        if status is None:
            self._names = None
            self._restarted("absent", f"connector {names.connector} not registered in Kafka Connect: "
                            f"{ensure_outbox_connector(self.settings)}")
            self._probes.clear()
            return
        if "FAILED" in states:
            self._restart_failed(names, states, status)
            return
        if all(state == "RUNNING" for state in states):
            self._failed_streak, self._failed_retry_at = 0, 0.0
        with self._connect() as conn:
            store = CdcStore(conn)
            now = time.monotonic()
            with conn.transaction():  # inserted and deleted in one transaction: the table stays small
                self._probes.append((store.write_probe(), now))
            state = store.slot_state(names.slot)
            confirmed = state.confirmed if state is not None else None
            if confirmed != self._confirmed:
                self._confirmed, self._moved_at = confirmed, now
            while self._probes and confirmed is not None and confirmed >= self._probes[0][0]:
                self._probes.popleft()
            waited = now - self._probes[0][1] if self._probes else 0.0
            self.metrics.up.set(1 if states and all(s == "RUNNING" for s in states) and state is not None
                                and state.active else 0)
            self.metrics.behind.set((state.behind_bytes or 0) if state is not None else 0)
            self.metrics.probe_age.set(round(waited, 3))
            if "PAUSED" in states:
                # Nothing reads while paused: no probe waits for the task that resumes.
                self._probes.clear()
                self._problem(f"connector {names.connector} is PAUSED (an operator's doing: left alone)")
                return
            stall_after = self.settings.publisher_stall_after_s
            if waited <= stall_after or now - self._moved_at <= stall_after:
                # A slot that moves is read, however far behind (a busy machine, a long flush interval).
                self._problem(None if waited < 2 * self.settings.publisher_probe_interval_s + 2 else
                              f"a probe has waited {waited:.0f}s for connector {names.connector}")
                return
            reader = state.reader_pid if state is not None else None
            if state is not None and state.active:
                store.terminate_slot_reader(names.slot)
        from automate.stack.base import http_json

        http_json("POST", f"{self.settings.connect_base_url}/connectors/{names.connector}/restart"
                          "?includeTasks=true")
        self._probes = deque((lsn, time.monotonic()) for lsn, _ in self._probes)  # a new wait begins
        self._moved_at = time.monotonic()
        self._restarted("stalled", f"connector {names.connector} ({'/'.join(states)}) has not read a probe "
                        f"for {waited:.0f}s, its slot {names.slot} unmoved (reader {reader} ended)")

    def run(self) -> None:
        """Check every probe interval until :attr:`stop_event` is set; errors are logged, never fatal."""
        interval = self.settings.publisher_probe_interval_s
        while not self.stop_event.is_set():
            try:
                if self.leading():
                    self.round()
            except AutomateError as exc:
                self.metrics.up.set(0)
                self._problem(f"cannot check the publisher: {str(exc).splitlines()[0]}")
            except Exception as exc:  # a database or network error: the next round tries again
                self.metrics.up.set(0)
                self._problem(f"cannot check the publisher: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}")
                if self._lock_conn is not None:
                    self._lock_conn.close()
                    self._lock_conn = None
            self.stop_event.wait(interval)
        if self._lock_conn is not None:
            self._lock_conn.close()


def run_publisher_watch(settings: Settings, metrics_port: int = 0) -> None:
    """``automate publisher-watch``: run the watch until SIGTERM or SIGINT."""
    import signal

    from automate.metrics import serve_metrics

    watch = PublisherWatch(settings)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: watch.stop_event.set())
    port = serve_metrics(settings, "publisher-watch", metrics_port, registry=watch.registry)
    log.info("publisher watch: metrics on 127.0.0.1:%d, probing every %.0fs, restarting after %.0fs", port,
             settings.publisher_probe_interval_s, settings.publisher_stall_after_s)
    watch.run()
