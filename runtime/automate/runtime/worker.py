"""`automate runtime`: consumes the workflow topics and advances executions, many at once.

Each message is one unit of work for one execution: an ExecutionRequest (start it) or a StepTask (resume
it at a step whose retry or wait is due). Messages are handled concurrently (asyncio, bounded), one at a
time per execution; offsets are committed only up to the lowest unfinished message of each partition.
Partitions a rebalance takes away are handed over: the messages of theirs still in hand are finished
(for up to :data:`HANDOVER_S`) and committed before the next owner reads them, so that owner does not
run a step a second time while this worker is still running it.

A message ends one of three ways: handled (the engine recorded where the execution stands, typed
failures included); the database away (a connection error, see
:func:`automate.runtime.state.database_away`) or Kafka refusing a record for now (a retryable
``kafka.delivery``), tried again until it goes through; or any other error, which fails its execution
with a typed code and a dead letter (:mod:`automate.runtime.failures`), so that no execution stays RUNNING
for ever. Beside the messages, the worker sweeps the executions past
their deadline (:mod:`automate.runtime.sweeper`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final, NamedTuple, TypeVar

from psycopg_pool import AsyncConnectionPool

from automate import tracing, transport
from automate.config import Settings
from automate.dead_letters import DeadLetter, send_dead_letter
from automate.errors import ErrorCodes, RecordError, TransportError
from automate.metrics import ConsumerLag
from automate.records import Records
from automate.runtime import spans
from automate.runtime.engine import Engine, Outcome, Resume
from automate.runtime.failures import fail_unexpected
from automate.runtime.metrics import RuntimeMetrics
from automate.runtime.offsets import OffsetTracker
from automate.runtime.state import database_away
from automate.runtime.sweeper import DeadlineSweeper
from automate.step_tasks import StepTask, send_step_task
from automate.topics import tier_for, workflow_topics_pattern
from automate.transport import BATCHED_FETCH, FAILOVER, AsyncProducer, KafkaException, TopicPartition, take

__all__ = ["HANDOVER_S", "RuntimeWorker"]

log = logging.getLogger("automate.runtime.worker")

# How long a rebalance waits for the messages of the partitions it takes away to finish. Meanwhile those
# partitions are read by no one and this worker reads nothing (the group's other members go on); a message
# still unfinished after it is run again by the next owner (at-least-once, as after a crash).
HANDOVER_S: Final = 60.0

T = TypeVar("T")

_NOT_ADMITTED: Final = (Outcome.MISSING, Outcome.REFUSED)


class _Failed(NamedTuple):
    """A message's handling raised something other than an outage of the database."""

    error: Exception


class RuntimeWorker:
    """One runtime worker process (scale out by running more in the same consumer group)."""

    def __init__(self, settings: Settings, *, concurrency: int = 1000, group: str | None = None,
                 metrics: RuntimeMetrics | None = None) -> None:
        self.settings = settings
        self.concurrency = concurrency
        self.group = group or f"{settings.topic_prefix}-runtime"
        self.metrics = metrics or RuntimeMetrics()
        self.consumer_lag = ConsumerLag(self.metrics.consumer_lag, self.group)
        self.records = Records.load(settings)
        self.tracker = OffsetTracker()
        self.stats: dict[str, int] = {"messages": 0, "poison": 0, "finished": 0, "deferred": 0, "failed": 0,
                                     "kafka_retries": 0}
        self._stop = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._in_hand: dict[tuple[str, int], set[asyncio.Task[None]]] = {}  # per partition
        # The partitions assigned now (changed by the consumer's thread, inside take(), read by the loop
        # between takes): a message of a partition handed over while its batch was being fetched is
        # dropped, the next owner runs it.
        self._owned: set[tuple[str, int]] = set()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()

        def committed(error: Any, parts: list[Any]) -> None:  # in the consumer's thread
            if error is None:
                taken = [(p.topic, p.partition, p.offset) for p in parts if p.error is None and p.offset >= 0]
                loop.call_soon_threadsafe(self._confirm, taken)

        consumer = transport.consumer(
            self.settings, self.group,
            **{"topic.metadata.refresh.interval.ms": 2000,  # new workflow topics are picked up quickly
               "partition.assignment.strategy": "cooperative-sticky", "on_commit": committed},
            **FAILOVER, **BATCHED_FETCH)
        io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="automate-consumer")
        producer = AsyncProducer(self.settings)
        # prepare_threshold=None: every statement planned for the tables as they are now. A prepared
        # statement's generic plan, made while a table was small, kept scanning it whole once it was not
        # (measured: 11 ms instead of 1.2 ms to read 200 executions by id out of 60,000).
        pool = AsyncConnectionPool(self.settings.dsn, min_size=2, max_size=20, open=False,
                                   kwargs={"application_name": "automate-runtime", "prepare_threshold": None})
        await pool.open()

        async def schedule(task: StepTask) -> None:
            await self._delivered(lambda: send_step_task(self.settings, self.records, producer, task))
            self.stats["deferred"] += 1
            tier = tier_for(task.due_at - time.time()).name
            self.metrics.deferred_to(task.workflow_slug, task.reason, tier)

        async def dead_letter(letter: DeadLetter) -> None:
            await self._delivered(lambda: send_dead_letter(self.settings, self.records, producer, letter))
            self.metrics.dead_letter(letter.error_code)

        engine = Engine(self.settings, pool, mode="deferred", scheduler=schedule, dead_letters=dead_letter,
                        on_step=self.metrics.step)
        self.sweeper = DeadlineSweeper(pool, dead_letter)
        sweeping = asyncio.create_task(self.sweeper.run(self.settings.sweep_interval_s, self._stop),
                                       name="automate-deadline-sweeper")
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        pattern = workflow_topics_pattern(self.settings)

        def assigned(_own: Any, parts: list[Any]) -> None:  # in the consumer's thread, from take()
            self._owned |= {(p.topic, p.partition) for p in parts}

        def revoked(own: Any, parts: list[Any]) -> None:
            keys = [(p.topic, p.partition) for p in parts]
            self._owned -= set(keys)
            self._hand_over(loop, own, keys, commit=True)

        def lost(own: Any, parts: list[Any]) -> None:  # the group gave them away already: nothing to commit
            keys = [(p.topic, p.partition) for p in parts]
            self._owned -= set(keys)
            self._hand_over(loop, own, keys, commit=False)

        await loop.run_in_executor(io, lambda: consumer.subscribe(
            [pattern], on_assign=assigned, on_revoke=revoked, on_lost=lost))
        last_commit = next_lag = time.monotonic()
        try:
            while not self._stop.is_set():
                messages: list[Any] = await loop.run_in_executor(io, take, consumer, 500, 0.1)
                for msg in messages:
                    if msg.error() or (msg.topic(), msg.partition()) not in self._owned:
                        continue
                    self.tracker.started(msg.topic(), msg.partition(), msg.offset())
                    await slots.acquire()
                    task = asyncio.create_task(self._handle(engine, dead_letter, msg, slots))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    in_hand = self._in_hand.setdefault((msg.topic(), msg.partition()), set())
                    in_hand.add(task)
                    task.add_done_callback(in_hand.discard)
                if time.monotonic() - last_commit > 0.2:
                    # Asynchronous: a synchronous commit waits for the group's coordinator, for as long as
                    # a restarting broker takes, and the loop would take no message meanwhile. A commit
                    # that does not land only means a redelivery, which the engine absorbs.
                    await self._commit(loop, io, consumer, asynchronous=True)
                    last_commit = time.monotonic()
                if time.monotonic() >= next_lag:
                    self.metrics.in_flight.set(len(tasks))
                    await loop.run_in_executor(io, self._update_lag, consumer)
                    next_lag = time.monotonic() + 5.0
            if tasks:
                await asyncio.wait(tasks, timeout=30)
            await self._commit(loop, io, consumer)
        finally:
            sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeping
            await loop.run_in_executor(io, consumer.close)
            io.shutdown()
            producer.close()
            await engine.writer.close()
            await engine.reader.close()
            await pool.close()

    async def _commit(self, loop: asyncio.AbstractEventLoop, io: concurrent.futures.Executor,
                      consumer: Any, *, asynchronous: bool = False) -> None:
        offsets = self.tracker.committable(only=self._owned)
        if not offsets:
            return
        parts = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            await loop.run_in_executor(io, lambda: consumer.commit(offsets=parts, asynchronous=asynchronous))
        except KafkaException as exc:  # e.g. a rebalance took the partition: it will be redelivered
            log.warning("commit failed", extra={"action": "runtime.commit_failed", "error": str(exc)})

    def _update_lag(self, consumer: Any) -> None:  # in the consumer's thread
        try:
            self.consumer_lag.update(consumer)
        except Exception as exc:  # metrics never stop the stream
            log.debug("lag update failed: %s", exc)

    def _confirm(self, taken: list[tuple[str, int, int]]) -> None:
        for topic, partition, offset in taken:
            self.tracker.confirmed(topic, partition, offset)

    def _hand_over(self, loop: asyncio.AbstractEventLoop, consumer: Any, keys: list[tuple[str, int]], *,
                   commit: bool) -> None:
        """Finish what is in hand of the partitions ``keys`` and (``commit``) commit it, before they move
        (called by the consumer in its thread while the event loop runs the messages). Stopping, it only
        forgets them: the worker has waited for its messages and committed already. Never waits on Kafka,
        never raises (it runs inside the consumer's poll)."""
        stopping = self._stop.is_set()
        settled = asyncio.run_coroutine_threadsafe(
            self._settle_partitions(keys, wait=commit and not stopping), loop)
        try:
            offsets = settled.result(HANDOVER_S + 10)
        except Exception as exc:  # the loop is not running them (or failed): the next owner reads them
            settled.cancel()
            log.warning("partitions handed over unsettled", extra={"action": "runtime.handover_failed",
                                                                   "error": repr(exc)[:300]})
            return
        if not (offsets and commit) or stopping:
            return
        # Asynchronous: it goes out ahead of the group's next join, and nothing here waits on Kafka (a
        # synchronous commit inside the rebalance callback was seen to hang after a broker restart, the
        # worker taking no message any more). A commit that does not land: the next owner reads them again.
        try:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                            asynchronous=True)
        except KafkaException as exc:
            log.warning("commit failed", extra={"action": "runtime.commit_failed", "error": str(exc)})

    async def _settle_partitions(self, keys: list[tuple[str, int]], *,
                                 wait: bool) -> dict[tuple[str, int], int]:
        """Wait (``wait``, up to :data:`HANDOVER_S`) for the messages in hand of the partitions ``keys``;
        returns their committable offsets and forgets them."""
        in_hand = {task for key in keys for task in self._in_hand.get(key, ())}
        if in_hand and wait:
            _, unfinished = await asyncio.wait(in_hand, timeout=HANDOVER_S)
            if unfinished:
                log.warning("partitions handed over with messages unfinished", extra={
                    "action": "runtime.handover_unfinished", "messages": len(unfinished)})
        offsets = self.tracker.committable(only=set(keys))
        for topic, partition in keys:
            self.tracker.forget(topic, partition)
            self._in_hand.pop((topic, partition), None)
        return offsets

    async def _handle(self, engine: Engine, dead_letter: Any, msg: Any, slots: asyncio.Semaphore) -> None:
        done = True  # False: leave the message uncommitted (re-delivered after a restart)
        try:
            self.stats["messages"] += 1
            try:
                name, record = self.records.decode(msg.value() or b"")
                if name not in ("ExecutionRequest", "StepTask"):
                    raise RecordError(ErrorCodes.RECORD_UNREADABLE,
                                      f"unexpected record {name} on a workflow topic")
                # A UUID, and from here on in its canonical form only: Postgres refuses some forms
                # Python reads (``urn:uuid:``), and the executions are keyed by the canonical text.
                execution_id = str(uuid.UUID(str(record["execution_id"])))
                record = {**record, "execution_id": execution_id}
            except (RecordError, KeyError, TypeError, ValueError) as exc:
                self.stats["poison"] += 1
                self.metrics.messages.labels("poison").inc()
                message = exc.message if isinstance(exc, RecordError) else f"no execution id: {exc!r}"
                await dead_letter(DeadLetter.poison(code=ErrorCodes.RECORD_UNREADABLE,
                                                    message=message[:500], source_topic=msg.topic(),
                                                    original=msg.value()))
                return
            self.metrics.messages.labels("request" if name == "ExecutionRequest" else "task").inc()
            lock = self._locks.setdefault(execution_id, asyncio.Lock())
            self._users[execution_id] = self._users.get(execution_id, 0) + 1
            try:
                async with lock:  # one message at a time per execution
                    with spans.handling(msg, name, record):
                        result = await self._until_stored(lambda: self._process(engine, name, record))
                        admitted = isinstance(result, Outcome) and result not in _NOT_ADMITTED
                        if isinstance(result, _Failed):
                            # Not the database: the execution fails typed, with a dead letter, and the worker
                            # goes on. (The database away meanwhile: tried again, as any message.)
                            self.stats["failed"] += 1
                            error = result.error
                            failed = await self._until_stored(lambda: fail_unexpected(
                                engine.pool, dead_letter, name, record, error, topic=msg.topic()))
                            if isinstance(failed, _Failed):
                                raise failed.error
                            finished = Outcome.FAILED if failed else Outcome.ALREADY_DONE
                            result = None if failed is None else finished
                        spans.ended(result)
                outcome = result
                if outcome is None:  # the worker stops while the database is away
                    done = False
                    return
                if outcome is Outcome.MISSING:
                    # A typed, recorded failure: the request names nothing we know; the worker goes on.
                    self.stats["poison"] += 1
                    await dead_letter(DeadLetter.unknown_target(record, name, msg.topic()))
            finally:
                self._users[execution_id] -= 1
                if self._users[execution_id] == 0:
                    del self._users[execution_id], self._locks[execution_id]
            if admitted and name == "ExecutionRequest":  # its tenant and workflow are the automation's
                self.metrics.request(record)
            if outcome in (Outcome.SUCCESS, Outcome.FAILED):
                self.stats["finished"] += 1
                if admitted:
                    self.metrics.end(record, outcome.value)
        except Exception:
            # What even the last resort could not record (a dead letter Kafka refused): logged; the
            # execution, failed in Postgres where it could be, is for an operator to see.
            log.exception("message failed", extra={"action": "runtime.message_failed",
                                                   "topic": msg.topic(), "offset": msg.offset()})
        finally:
            if done:
                self.tracker.finished(msg.topic(), msg.partition(), msg.offset())
            slots.release()

    async def _until_stored(self, attempt: Callable[[], Awaitable[T]]) -> T | _Failed | None:
        """Run ``attempt`` until the database takes it: an outage of Postgres (restarting, failing over)
        is not the message's fault, and every write is idempotent, so it is tried again with a backoff.
        Returns its result, a :class:`_Failed` for any other error, or None when the worker stops first."""
        delay = 0.2
        while True:
            try:
                return await attempt()
            except Exception as exc:
                kafka = isinstance(exc, TransportError) and exc.retryable
                if not (kafka or database_away(exc)):
                    return _Failed(exc)  # e.g. a canceled query, a full disk: tried again, it fails again
                if self._stop.is_set():
                    return None
                log.warning("%s unavailable; retrying the message", "Kafka" if kafka else "database",
                            extra={"action": "runtime.kafka_retry" if kafka else "runtime.db_retry",
                                   "error": str(exc)[:300]})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _delivered(self, send: Callable[[], Awaitable[None]]) -> None:
        """Send a record until Kafka takes it. A retryable error (a leader moving, a broker restarting, a
        topic briefly missing) is tried again in place, with a backoff: the engine has already recorded
        the step the record is for (parked, or failed), and the message handled again would find it so
        and send nothing. A permanent error (``kafka.record_too_large``) is raised, as is the last one when
        the worker stops meanwhile (the message is then left uncommitted)."""
        delay = 0.2
        while True:
            try:
                await send()
                return
            except TransportError as exc:
                if not exc.retryable or self._stop.is_set():
                    raise
                self.stats["kafka_retries"] += 1
                log.warning("record not delivered; retrying", extra={"action": "runtime.delivery_retry",
                                                                     "error": str(exc)[:300]})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _process(self, engine: Engine, name: str, record: dict[str, Any]) -> Outcome:
        if name == "ExecutionRequest":
            return await engine.start(record)
        if name == "StepTask":
            return await engine.advance(record["execution_id"], Resume.of_task(record))
        raise RecordError(ErrorCodes.RECORD_UNREADABLE, f"unexpected record {name} on a workflow topic")


def run_worker(settings: Settings, concurrency: int, metrics_port: int = 0) -> None:
    from automate.metrics import serve_metrics

    tracing.configure("automate-runtime")
    worker = RuntimeWorker(settings, concurrency=concurrency)
    # (with the default registry's: the LLM calls' metrics are there)
    port = serve_metrics(settings, "automate-runtime", metrics_port, registry=worker.metrics.registry,
                         with_default=True)
    log.info("runtime worker started", extra={"action": "runtime.started", "metrics_port": port})

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()

    asyncio.run(main())
