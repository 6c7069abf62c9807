"""`automate retry-worker`: holds each retry-tier partition until its head record is due (never early),
then re-produces the record to its workflow topic and commits.

A tier has one fixed delay, so records in a partition become due in the order they arrive: holding a
partition at its first record not yet due holds back nothing that is due.

Nothing in a record is trusted (:func:`automate.step_tasks.read_retry_headers`): a record without a
readable due time and target, or whose target is not a workflow topic of this deployment's prefix, or
that the broker refuses to take on its target, is dead-lettered (``poison``, with its code) in its turn,
and the worker goes on with the next.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import logging
import signal
import time
from typing import Any

from automate import transport
from automate.config import Settings
from automate.dead_letters import DeadLetter
from automate.errors import ErrorCodes, RecordError, TransportError
from automate.records import Records
from automate.sizes import record_max_bytes
from automate.step_tasks import read_retry_headers
from automate.topics import RETRY_TIERS, dlq_topic, retry_topic
from automate.transport import FAILOVER, AsyncProducer, KafkaException, TopicPartition, take

__all__ = ["RetryWorker", "run_retry_worker"]

log = logging.getLogger("automate.runtime.retry")

Entry = tuple[float, Any, "str | RecordError"]  # due (epoch s), the record, its target or why it has none


class RetryWorker:
    def __init__(self, settings: Settings, *, group: str | None = None) -> None:
        self.settings = settings
        self.group = group or f"{settings.topic_prefix}-retry"
        self.forwarded = 0
        self.dead_lettered = 0
        self.late_ms: collections.deque[float] = collections.deque(maxlen=100_000)  # for benchmarks
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        consumer = transport.consumer(self.settings, self.group, **{"fetch.wait.max.ms": 100}, **FAILOVER)
        io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="automate-retry-consumer")
        loop = asyncio.get_running_loop()
        records = await loop.run_in_executor(io, Records.load, self.settings)
        # A target that passed the checks but does not exist (no such workflow) fails after 5 s, not
        # librdkafka's 30: meanwhile the due records of the same batch wait for it.
        producer = AsyncProducer(self.settings, **{"topic.metadata.propagation.max.ms": 5000})
        # Per partition, the records fetched but not yet due, in order (a tier's records fall due in the
        # order they arrive). While a partition holds any, it is paused: nothing more is fetched for it,
        # and nothing is skipped, so no seek (and no refetch delay) is needed when it resumes. A record
        # that cannot be read is due at once (0), its error in place of a target: dead-lettered in turn.
        held: dict[tuple[str, int], collections.deque[Entry]] = {}

        def revoked(_consumer: Any, parts: list[Any]) -> None:
            for part in parts:  # another worker reads them again from the committed offset
                held.pop((part.topic, part.partition), None)

        topics = [retry_topic(self.settings, tier) for tier in RETRY_TIERS]
        await loop.run_in_executor(io, lambda: consumer.subscribe(topics, on_revoke=revoked,
                                                                  on_lost=revoked))

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

        async def send(due: float, msg: Any, target: str | RecordError) -> None:
            if isinstance(target, RecordError):
                await dead_letter(msg, target)
                return
            try:
                await producer.send(target, msg.value(), key=msg.key(), headers=msg.headers())
            except (TransportError, KafkaException) as exc:  # e.g. no such workflow topic
                await dead_letter(msg, RecordError(ErrorCodes.REQUEST_UNDELIVERABLE,
                                                   f"not delivered to {target}: {exc}"[:500]))
                return
            self.forwarded += 1
            self.late_ms.append((time.time() - due) * 1000)

        async def forward(due_now: list[Entry]) -> None:
            """Re-produce all at once (acknowledged), then commit each partition past its last one."""
            if not due_now:
                return
            await asyncio.gather(*(send(*entry) for entry in due_now))
            last: dict[tuple[str, int], int] = {}
            for _, msg, _ in due_now:
                last[(msg.topic(), msg.partition())] = msg.offset() + 1
            commits = [TopicPartition(t, p, o) for (t, p), o in last.items()]
            await loop.run_in_executor(io, functools.partial(consumer.commit, offsets=commits,
                                                             asynchronous=False))

        try:
            while not self._stop.is_set():
                now = time.time()
                due_now: list[Entry] = []
                for tp, queue in list(held.items()):
                    while queue and queue[0][0] <= now:
                        due_now.append(queue.popleft())
                    if not queue:
                        del held[tp]
                        await loop.run_in_executor(io, consumer.resume, [TopicPartition(tp[0], tp[1])])
                await forward(due_now)
                wait = 0.05
                if held:
                    first_due = min(queue[0][0] for queue in held.values())
                    wait = max(0.0, min(0.05, first_due - time.time()))
                messages: list[Any] = await loop.run_in_executor(io, take, consumer, 500, wait)
                due_now = []
                for msg in messages:
                    if msg.error():
                        continue
                    tp = (msg.topic(), msg.partition())
                    target: str | RecordError
                    try:
                        due, target = read_retry_headers(self.settings, msg)
                    except RecordError as exc:
                        due, target = 0.0, exc
                    if tp in held:
                        held[tp].append((due, msg, target))
                    elif due > time.time():
                        held[tp] = collections.deque([(due, msg, target)])
                        await loop.run_in_executor(io, consumer.pause,
                                                   [TopicPartition(msg.topic(), msg.partition())])
                    else:
                        due_now.append((due, msg, target))
                await forward(due_now)
        finally:
            await loop.run_in_executor(io, consumer.close)
            io.shutdown()
            producer.close()


def run_retry_worker(settings: Settings) -> None:
    worker = RetryWorker(settings)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()

    asyncio.run(main())
