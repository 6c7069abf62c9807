"""The built-in relay: publishes outbox rows to Kafka where Debezium does not run.

It claims due rows in batches, each held by an open transaction (``FOR UPDATE SKIP LOCKED``), produces
them with an idempotent producer, and settles them: published rows are deleted and the transaction
commits; failed deliveries are put back with a backoff, save those Kafka refuses for good (a record above
a size limit, see :mod:`automate.sizes`; :func:`automate.transport.refused`): such a row is marked
``failed`` with its error and left for an operator, and the rows after it go on. A relay that dies
mid-batch gives its rows back when Postgres drops its connection. It wakes on LISTEN/NOTIFY
(``automate_outbox`` channel) and polls as a fallback. Several relays can run side by side. Records are
byte-identical to Debezium's (see :func:`record_headers`). Needs the ``kafka`` extra.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from automate import tracing, transport
from automate.config import Settings, get_settings
from automate.errors import ErrorCodes
from automate.tracing import TRACEPARENT
from automate.transport import KafkaError, KafkaException, delivery_error, refused, too_large
from automate_core.outbox.reaper import OutboxReaper
from automate_core.outbox.store import HeldBatch, HeldClaimStore, OutboxItem

__all__ = ["CE_SOURCE", "Relay", "RelayStats", "record_headers", "record_timestamp_ms"]

log = logging.getLogger("automate.relay")

_DEPTH = 2  # claimed batches waiting to be settled while the next one is produced

CE_SOURCE = "automate"


def record_headers(item: OutboxItem, source: str = CE_SOURCE) -> list[tuple[str, str | bytes | None]]:
    """The Kafka headers of an outbox row, in the order and encoding Debezium's connector writes them
    (as observed on the wire): the inserted literals (ce_specversion, ce_source), then the EventRouter's
    additional fields (ce_id, ce_type, ce_tenant, traceparent: a null value when the column is NULL);
    strings as UTF-8 (SimpleHeaderConverter)."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_source", source.encode()),
        ("ce_id", item.id.encode()),
        ("ce_type", item.type.encode()),
        ("ce_tenant", item.tenant.encode()),
        (TRACEPARENT, item.traceparent.encode() if item.traceparent is not None else None),
    ]


_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)


def record_timestamp_ms(item: OutboxItem) -> int:
    """The record's timestamp: the row's created_at (naive UTC) in epoch milliseconds, exactly."""
    return (item.created_at - _EPOCH) // _MS


@dataclass
class _Batch:
    """A claimed batch on its way to Kafka. Its delivery reports arrive in the settling thread only."""

    held: HeldBatch
    claimed: float = field(default_factory=time.monotonic)
    claimed_ns: int = field(default_factory=time.time_ns)  # (wall clock: the start of its publish spans)
    failed_records: dict[tuple[bytes, bytes], Any] = field(default_factory=dict)  # (key, value): KafkaError
    refused: dict[str, Any] = field(default_factory=dict)  # row id: KafkaError of produce() itself
    outstanding: int = 0  # records without a delivery report (refused ones never get one)

    def __post_init__(self) -> None:
        self.outstanding = len(self.held.items)

    def delivered(self, err: Any, msg: Any) -> None:
        """The delivery report of one record (one bound method for the whole batch, not a closure per
        record). A failed record's report carries no headers, so it is known by its key and value: rows
        with the same key and payload are all retried, which at worst publishes one again under its
        own event id (a duplicate consumers already tell apart)."""
        if err is not None:
            self.failed_records[(msg.key(), msg.value())] = err
        self.outstanding -= 1

    @property
    def waiting(self) -> bool:
        """Whether a produced record still has no delivery report."""
        return self.outstanding > len(self.refused)

    def failed(self) -> dict[str, Any]:
        """The rows whose record failed (a delivery report or produce() itself): row id to KafkaError."""
        if not self.failed_records:
            return dict(self.refused)
        errors = {item.id: self.failed_records.get((item.key.encode(), item.payload))
                  for item in self.held.items}
        return {**{ident: error for ident, error in errors.items() if error is not None}, **self.refused}


def _trace(batch: _Batch, failed: dict[str, Any]) -> None:
    """A publish span per traced row of a settled batch, from its claim to its settling, under the span
    that emitted it (the record keeps the emitter's traceparent: Debezium's records have no such span)."""
    settled = time.time_ns()
    for item in batch.held.items:
        if item.traceparent is None:
            continue
        span = tracing.start_span(f"publish {item.topic}", item.traceparent, kind=tracing.SpanKind.PRODUCER,
                                  start_time=batch.claimed_ns,
                                  attributes={"messaging.system": "kafka",
                                              "messaging.destination.name": item.topic,
                                              "automate.event_id": item.id, "automate.event_type": item.type,
                                              "automate.tenant": item.tenant})
        tracing.end_span(span, error=ErrorCodes.KAFKA_DELIVERY if item.id in failed else None,
                         end_time=settled)


def _reason(err: Any) -> str:
    """A row's ``last_error``: the typed code (``kafka.record_too_large``, ``kafka.delivery``), then Kafka's
    words."""
    return f"{delivery_error(err, '').code}: {err.str()}"


@dataclass
class RelayStats:
    published: int = 0
    retried: int = 0
    failed: int = 0  # rows Kafka refused for good, marked failed
    batches: int = 0
    reaped: int = 0
    started: float = field(default_factory=time.monotonic)


class Relay:
    """One relay process's loop. ``run()`` until ``stop`` is set; ``drain()`` publishes the backlog."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        owner: str | None = None,
        batch_size: int = 5000,
        lease_seconds: float = 30.0,
        poll_interval: float = 1.0,
        retry_backoff: Callable[[int], float] | None = None,
        producer_config: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        # Held batches: a relay that hangs longer than the lease with a batch is cut off by Postgres.
        self.store = HeldClaimStore(lease_seconds, settings=self.settings)
        # Rows left claimed under a lease (SkipLockedClaimOutboxStore users) are freed by the reaper.
        self.reaper = OutboxReaper(max(lease_seconds * 2, 1.0), settings=self.settings)
        self.backoff = retry_backoff or (lambda attempts: min(2.0 ** attempts, 300.0))
        self.stats = RelayStats()
        self._lease = lease_seconds
        self._producer_config: dict[str, Any] = {
            "queue.buffering.max.messages": 200000,  # two claimed batches of 5,000 rows and more
            # A delivery fails (and is retried with backoff) well before the relay would give up
            # waiting for its batch and roll it back (at 0.8 of the lease).
            "message.timeout.ms": int(min(30.0, lease_seconds / 2) * 1000),
            **(producer_config or {}),
        }
        self.producer = transport.producer(self.settings, **self._producer_config)
        self._solo: Any = None  # transport.solo_producer, made at the first record refused for its size

    def close(self) -> None:
        """Flush what is in flight and release the database connection."""
        self.producer.flush(10)
        if self._solo is not None:
            self._solo.flush(10)
        self.store.close()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, held: HeldBatch | None) -> _Batch | None:
        """Hand a claimed batch to the producer (returns at once; delivery goes on in the background)."""
        if held is None:
            return None
        batch = _Batch(held)
        for item in held.items:
            self._produce(item, batch)
        return batch

    def _settle(self, batch: _Batch) -> int:
        """Wait until every record of ``batch`` is acknowledged or failed, then settle the rows."""
        deadline = batch.claimed + self._lease * 0.8
        while batch.waiting and time.monotonic() < deadline:
            self.producer.poll(0.01)
        if batch.waiting:
            # Not acknowledged in time: give the rows back rather than guess (published again later,
            # under the same event ids, if the broker did take them).
            log.warning("relay delivery timed out",
                        extra={"action": "relay.flush_timeout", "pending": batch.outstanding})
            batch.held.release()
            return 0
        items, failed = batch.held.items, batch.failed()
        suspects = [i for i in items
                    if i.id in failed and i.id not in batch.refused and too_large(failed[i.id])]
        if suspects:  # the broker refused their batch: each is tried alone before it counts as too large
            again = self._alone(suspects, batch.claimed + self._lease * 0.9)
            for item in suspects:
                if item.id in again:
                    failed[item.id] = again[item.id]
                else:
                    del failed[item.id]  # delivered alone
        ok = [i.id for i in items if i.id not in failed]
        if not failed:
            batch.held.settle(ok)
        else:
            dead = {ident: _reason(err) for ident, err in failed.items() if refused(err)}
            retry = [ident for ident in failed if ident not in dead]
            due, error = None, ""
            if retry:
                # (failed and dead are dicts: a batch of 5,000 rows failing at once stays linear)
                attempts = 1 + max(i.attempts for i in items if i.id in failed and i.id not in dead)
                due = datetime.now(UTC) + timedelta(seconds=self.backoff(attempts))
                error = _reason(failed[retry[0]])
            batch.held.settle(ok, retry, next_attempt=due, error=error, failed=dead)
            self.stats.retried += len(retry)
            self.stats.failed += len(dead)
            if retry:
                log.warning("relay delivery failed", extra={"action": "relay.retry", "count": len(retry),
                                                            "error": error})
            for ident, reason in dead.items():
                log.error("relay: row refused by Kafka, marked failed", extra={
                    "action": "relay.failed", "event_id": ident, "error": reason[:300]})
        self.stats.published += len(ok)
        self.stats.batches += 1
        if tracing.enabled():
            _trace(batch, failed)
        return len(ok)

    def _alone(self, items: list[OutboxItem], deadline: float) -> dict[str, Any]:
        """Produce again, each in a batch of its own, the records the broker refused for their size: one
        may only have shared a batch larger than its topic allows (librdkafka does not split a refused
        batch). Returns those still not delivered: row id to error (a timeout for a missing report)."""
        if self._solo is None:
            self._solo = transport.solo_producer(self.settings, **self._producer_config)
        reports: dict[str, Any] = {}
        for item in items:
            def delivered(err: Any, _msg: Any, ident: str = item.id) -> None:
                reports[ident] = err
            while True:
                try:
                    self._solo.produce(item.topic, key=item.key.encode(), value=item.payload,
                                       headers=record_headers(item), timestamp=record_timestamp_ms(item),
                                       on_delivery=delivered)
                    break
                except BufferError:
                    self._solo.poll(0.05)
                except KafkaException as exc:
                    reports[item.id] = exc.args[0]
                    break
        self._solo.flush(max(1.0, deadline - time.monotonic()))
        missing = KafkaError(KafkaError._MSG_TIMED_OUT)
        return {i.id: reports.get(i.id, missing) for i in items if reports.get(i.id, missing) is not None}

    def _pipeline(self, deadline: float, *, until_empty: bool = True) -> tuple[int, bool]:
        """Publish until nothing is due; returns (rows published, whether the backlog was drained).

        With ``until_empty=False`` it stops at the first claim that comes back short of the batch size,
        which is what a drained backlog looks like (run() then waits for the next NOTIFY, and the
        listener holds one for every commit since). Claiming and producing (this thread) overlap with
        waiting for acknowledgements and settling (a settling thread; each batch holds a connection), so
        the database works on one batch while Python produces the next; at most ``_DEPTH`` batches wait
        to be settled."""
        waiting: queue.Queue[_Batch | None] = queue.Queue(maxsize=_DEPTH)
        published: list[int] = []
        errors: list[BaseException] = []
        drained = False

        def settle_all() -> None:
            while (batch := waiting.get()) is not None:
                if errors:
                    batch.held.release()  # a batch after a failure is given back untouched
                    continue
                try:
                    published.append(self._settle(batch))
                except BaseException as exc:
                    errors.append(exc)

        settler = threading.Thread(target=settle_all, name="automate-relay-settle", daemon=True)
        settler.start()
        try:
            while time.monotonic() < deadline and not errors:
                batch = self._send(self.store.claim(self.batch_size))
                if batch is None:
                    drained = True
                    break
                waiting.put(batch)
                if not until_empty and len(batch.held.items) < self.batch_size:
                    drained = True
                    break
        finally:
            waiting.put(None)
            settler.join()
        if errors:
            raise errors[0]
        return sum(published), drained

    def _produce(self, item: OutboxItem, batch: _Batch) -> None:
        """Hand one row's record to the producer; a record produce() refuses at once (e.g. above
        ``message.max.bytes``) is the row's failure, not the relay's."""
        while True:
            try:
                self.producer.produce(
                    item.topic,
                    key=item.key.encode(),
                    value=item.payload,
                    headers=record_headers(item),
                    timestamp=record_timestamp_ms(item),
                    on_delivery=batch.delivered,
                )
                return
            except BufferError:
                # The local queue is full: the settling thread's polls drain it (polling here too would
                # run delivery reports in two threads at once).
                time.sleep(0.01)
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():  # the producer itself is broken: the relay must restart
                    raise
                batch.refused[item.id] = err
                return

    def drain(self, timeout: float = 300.0) -> int:
        """Publish until nothing is due (for `automate relay --once` and tests)."""
        return self._pipeline(time.monotonic() + timeout)[0]

    def run(self, stop: threading.Event | None = None) -> None:
        """Publish until ``stop`` is set: wake on NOTIFY, poll every ``poll_interval`` as a fallback.
        The database going away (a restart, a failover) is waited out, not fatal."""
        stop = stop or threading.Event()
        listener: psycopg.Connection[Any] | None = None
        next_reap = 0.0
        log.info("relay started", extra={"action": "relay.start", "owner": self.owner})
        try:
            while not stop.is_set():
                try:
                    if listener is None:
                        # LISTEN before claiming: a commit after the claim then leaves its notification.
                        listener = psycopg.connect(self.settings.dsn, autocommit=True)
                        self.store.listen(listener)
                    now = time.monotonic()
                    if now >= next_reap:
                        self.stats.reaped += self.reaper.reap_stale_items()
                        next_reap = now + self._lease / 2
                    # Bounded by the lease, so the reaper and the stop flag get their turn.
                    _published, drained = self._pipeline(time.monotonic() + self._lease / 2,
                                                         until_empty=False)
                    if drained:
                        for _ in listener.notifies(timeout=self.poll_interval, stop_after=1):
                            pass
                        # The notifications of other commits meanwhile: the next claim serves them all.
                        for _ in listener.notifies(timeout=0):
                            pass
                except (psycopg.OperationalError, psycopg.errors.IdleInTransactionSessionTimeout) as exc:
                    # (The second: a batch held past --lease, e.g. the broker unreachable that long, was
                    # rolled back by Postgres; its rows are due again.)
                    log.warning("relay lost the database",
                                extra={"action": "relay.db_error", "error": str(exc)})
                    self.store.close()
                    if listener is not None:
                        listener.close()
                        listener = None
                    stop.wait(self.poll_interval)
        finally:
            if listener is not None:
                listener.close()
            self.close()
            log.info("relay stopped", extra={"action": "relay.stop", "owner": self.owner,
                                             "published": self.stats.published})
