"""`automate retry-worker`: holds each retry-tier partition until its head record leaves it, then
re-produces the record and commits. A record leaves when it is due (to its workflow topic, never early), or
once it has waited its tier's delay while still not due: then it *hops*, re-produced to the tier of what
it still has to wait (the longest tier for a delay beyond it), headers and due time unchanged.

A tier has one fixed delay, and the runtime puts a task on the smallest tier at least its delay, so
records in a partition become due in about the order they arrive, and holding a partition at its head
holds back nothing due for longer than the tier's delay. A delay beyond the longest tier (a ``core.wait``
of a day, ``retry.max: 1d``) hops through the longest tier once an hour instead of holding its partition
until it is due: no partition is ever held longer than its tier's delay after its head record was
produced (:func:`release_at`).

Nothing in a record is trusted (:func:`automate.step_tasks.read_retry_headers`): a record without a
readable due time and target, or whose target is not a workflow topic of this deployment's prefix, or
that the broker refuses for good (too large, no such topic), is dead-lettered (``poison``, with its code)
in its turn, and the worker goes on with the next. A retryable delivery error (a leader moving, a broker
restarting) is not the record's fault: it is sent again, with a backoff, and nothing committed past it.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import logging
import signal
import time
from typing import Any, NamedTuple

from automate import transport
from automate.config import Settings
from automate.dead_letters import DeadLetter
from automate.errors import ErrorCodes, RecordError, TransportError
from automate.metrics import ConsumerLag
from automate.records import Records
from automate.runtime.metrics import RetryMetrics
from automate.sizes import record_max_bytes
from automate.step_tasks import HOPS_HEADER, header, read_retry_headers
from automate.topics import RETRY_TIERS, RetryTier, dlq_topic, retry_topic, tier_for
from automate.transport import FAILOVER, AsyncProducer, KafkaException, TopicPartition, take

__all__ = ["RetryWorker", "release_at", "run_retry_worker"]

log = logging.getLogger("automate.runtime.retry")

HOP_GRACE_S = 0.1  # a record due this little after its tier's delay is held, not hopped (clock rounding)


class Entry(NamedTuple):
    """A record fetched from a tier and not yet re-produced."""

    release: float  # when it leaves its partition (epoch s): see release_at; 0 for a record not readable
    due: float  # when it is due (epoch s)
    msg: Any
    target: str | RecordError  # its workflow topic, or why it has none


def release_at(due: float, tier: RetryTier, *, produced: float | None, seen: float) -> float:
    """When a record of ``tier`` leaves its partition (epoch s): when it is ``due``, but no later than the
    tier's delay after it was ``produced`` (its timestamp; the time it was first ``seen`` when it has none
    or claims a later one). Leaving before it is due, it hops to another tier, never to its target."""
    start = seen if produced is None else min(produced, seen)
    limit = start + tier.delay_s
    return due if due <= limit + HOP_GRACE_S else limit


def _produced(msg: Any) -> float | None:
    """A record's timestamp (epoch s), or None when it has none."""
    kind, ms = msg.timestamp()
    return ms / 1000 if kind != 0 and ms > 0 else None  # kind 0: TIMESTAMP_NOT_AVAILABLE


def _hops(msg: Any) -> int:
    text = header(msg, HOPS_HEADER) or ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0


class RetryWorker:
    def __init__(self, settings: Settings, *, group: str | None = None,
                 metrics: RetryMetrics | None = None) -> None:
        self.settings = settings
        self.group = group or f"{settings.topic_prefix}-retry"
        self.metrics = metrics or RetryMetrics()
        self.consumer_lag = ConsumerLag(self.metrics.consumer_lag, self.group)
        self.forwarded = 0
        self.hopped = 0
        self.dead_lettered = 0
        self.send_retries = 0  # re-produces tried again after a retryable error
        # How late (ms) the last forwards were, for benchmarks: bounded, a long-running worker keeps 10,000.
        self.late_ms: collections.deque[float] = collections.deque(maxlen=10_000)
        self._stop = asyncio.Event()
        self._tiers = {retry_topic(settings, tier): tier for tier in RETRY_TIERS}

    def stop(self) -> None:
        self._stop.set()

    def _tier_of(self, topic: str) -> str:
        return self._tiers.get(topic, RETRY_TIERS[-1]).name

    def _observe(self, consumer: Any, held: dict[tuple[str, int], collections.deque[Entry]]) -> None:
        """The lag of the partitions held, and the records held by tier (in the consumer's thread)."""
        by_tier = dict.fromkeys((tier.name for tier in RETRY_TIERS), 0)
        for (topic, _partition), queue in list(held.items()):
            by_tier[self._tier_of(topic)] += len(queue)
        for tier, count in by_tier.items():
            self.metrics.held.labels(tier).set(count)
        try:
            self.consumer_lag.update(consumer)
        except Exception as exc:  # metrics never stop the stream
            log.debug("lag update failed: %s", exc)

    def _entry(self, msg: Any) -> Entry:
        try:
            due, target = read_retry_headers(self.settings, msg)
        except RecordError as exc:
            return Entry(0.0, 0.0, msg, exc)
        tier = self._tiers.get(msg.topic(), RETRY_TIERS[-1])
        return Entry(release_at(due, tier, produced=_produced(msg), seen=time.time()), due, msg, target)

    async def run(self) -> None:
        consumer = transport.consumer(self.settings, self.group, **{"fetch.wait.max.ms": 100}, **FAILOVER)
        io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="automate-retry-consumer")
        loop = asyncio.get_running_loop()
        records = await loop.run_in_executor(io, Records.load, self.settings)
        # A target that passed the checks but does not exist (no such workflow) fails after 5 s, not
        # librdkafka's 30: meanwhile the due records of the same batch wait for it.
        producer = AsyncProducer(self.settings, **{"topic.metadata.propagation.max.ms": 5000})
        # Per partition, the records fetched but not yet released, in order. While a partition holds
        # any, it is paused: nothing more is fetched for it, and nothing is skipped, so no seek (and no
        # refetch delay) is needed when it resumes. A record that cannot be read is released at once (0),
        # its error in place of a target: dead-lettered in turn.
        held: dict[tuple[str, int], collections.deque[Entry]] = {}

        # librdkafka keeps a partition paused across a rebalance that gives it back to this consumer (eager
        # assignment: every partition is revoked, then assigned again): a partition no longer held is
        # resumed when revoked and when assigned, or it would never be read again.
        def revoked(own: Any, parts: list[Any]) -> None:
            for part in parts:  # another worker (or this one) reads them again from the committed offset
                held.pop((part.topic, part.partition), None)
            if parts:
                with contextlib.suppress(KafkaException):  # a lost partition may be gone already
                    own.resume(parts)

        def assigned(own: Any, parts: list[Any]) -> None:
            own.assign(parts)
            free = [part for part in parts if (part.topic, part.partition) not in held]
            if free:
                own.resume(free)

        topics = list(self._tiers)
        await loop.run_in_executor(io, lambda: consumer.subscribe(topics, on_assign=assigned,
                                                                  on_revoke=revoked, on_lost=revoked))

        async def dead_letter(msg: Any, error: RecordError) -> None:
            log.warning("retry record dead-lettered", extra={
                "action": "retry.dead_letter", "code": str(error.code), "topic": msg.topic(),
                "offset": msg.offset()})
            letter = DeadLetter.poison(code=error.code, message=error.message, source_topic=msg.topic(),
                                       original=msg.value())
            # (an original larger than any record of ours is dropped: the letter must fit, see automate.sizes)
            data = letter.encode(records, max_original=record_max_bytes(self.settings))
            await producer.send(dlq_topic(self.settings), data)
            self.dead_lettered += 1
            self.metrics.dead_letters.labels("retry", str(error.code)).inc()

        async def exists(topic: str) -> bool:
            """Whether ``topic`` exists, or the broker cannot tell now (asked again at the next failure)."""
            try:
                metadata = await loop.run_in_executor(io, functools.partial(consumer.list_topics, topic,
                                                                            timeout=5))
            except KafkaException:
                return True
            found = metadata.topics.get(topic)
            return found is not None and found.error is None

        async def send(entry: Entry) -> bool:
            """Re-produce ``entry`` (or dead-letter it); False: not done, the worker stops first."""
            msg, target = entry.msg, entry.target
            if isinstance(target, RecordError):
                await dead_letter(msg, target)
                return True
            hop = entry.due > time.time()  # released before it is due: it waited its tier's delay
            if hop:
                headers = [(k, v) for k, v in msg.headers() or () if k != HOPS_HEADER]
                headers.append((HOPS_HEADER, str(_hops(msg) + 1)))
                target = retry_topic(self.settings, tier_for(entry.due - time.time()))
            delay = 0.2
            while True:
                try:
                    await producer.send(target, msg.value(), key=msg.key(),
                                        headers=headers if hop else msg.headers())
                    break
                except (TransportError, KafkaException) as exc:
                    retryable = isinstance(exc, TransportError) and exc.retryable
                    if retryable and self._stop.is_set():
                        return False  # not committed: re-produced after a restart
                    if not retryable or not await exists(target):  # too large, no such workflow topic
                        await dead_letter(msg, RecordError(ErrorCodes.REQUEST_UNDELIVERABLE,
                                                           f"not delivered to {target}: {exc}"[:500]))
                        return True
                    # Kafka cannot take it for now (a leader moving, a broker restarting): tried again in
                    # place; nothing is committed past it meanwhile.
                    self.send_retries += 1
                    log.warning("retry record not delivered; retrying", extra={
                        "action": "retry.send_retry", "topic": msg.topic(), "offset": msg.offset(),
                        "to": target, "error": str(exc)[:300]})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            if hop:
                self.hopped += 1
                self.metrics.hopped.labels(self._tier_of(msg.topic())).inc()
                log.info("retry record hopped", extra={
                    "action": "retry.hop", "topic": msg.topic(), "offset": msg.offset(), "to": target,
                    "due_in_s": round(entry.due - time.time())})
                return True
            self.forwarded += 1
            late = time.time() - entry.due
            self.late_ms.append(late * 1000)
            tier = self._tier_of(msg.topic())
            self.metrics.released.labels(tier).inc()
            self.metrics.late.labels(tier).observe(max(0.0, late))
            return True

        async def release(entries: list[Entry]) -> None:
            """Re-produce all at once (acknowledged), then commit each partition past its last one."""
            if not entries:
                return
            if not all(await asyncio.gather(*(send(entry) for entry in entries))):
                return  # the worker stops with records not re-produced: none committed
            last: dict[tuple[str, int], int] = {}
            for entry in entries:
                last[(entry.msg.topic(), entry.msg.partition())] = entry.msg.offset() + 1
            commits = [TopicPartition(t, p, o) for (t, p), o in last.items()]
            await loop.run_in_executor(io, functools.partial(consumer.commit, offsets=commits,
                                                             asynchronous=False))

        next_observe = time.monotonic()
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_observe:
                    await loop.run_in_executor(io, self._observe, consumer, held)
                    next_observe = time.monotonic() + 5.0
                now = time.time()
                ready: list[Entry] = []
                for tp, queue in list(held.items()):
                    while queue and queue[0].release <= now:
                        ready.append(queue.popleft())
                    if not queue:
                        del held[tp]
                        await loop.run_in_executor(io, consumer.resume, [TopicPartition(tp[0], tp[1])])
                await release(ready)
                wait = 0.05
                if held:
                    first = min(queue[0].release for queue in held.values())
                    wait = max(0.0, min(0.05, first - time.time()))
                messages: list[Any] = await loop.run_in_executor(io, take, consumer, 500, wait)
                ready = []
                for msg in messages:
                    if msg.error():
                        continue
                    tp = (msg.topic(), msg.partition())
                    entry = self._entry(msg)
                    if tp in held:
                        held[tp].append(entry)
                    elif entry.release > time.time():
                        held[tp] = collections.deque([entry])
                        await loop.run_in_executor(io, consumer.pause,
                                                   [TopicPartition(msg.topic(), msg.partition())])
                    else:
                        ready.append(entry)
                await release(ready)
        finally:
            await loop.run_in_executor(io, consumer.close)
            io.shutdown()
            producer.close()


def run_retry_worker(settings: Settings, metrics_port: int = 0) -> None:
    from automate.metrics import serve_metrics

    worker = RetryWorker(settings)
    port = serve_metrics(settings, "automate-retry-worker", metrics_port, registry=worker.metrics.registry)
    log.info("retry worker started", extra={"action": "retry.started", "metrics_port": port})

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()

    asyncio.run(main())
