"""`automate retry-worker`: holds each retry-tier partition until its head record is due (never early),
then re-produces the record to its workflow topic and commits.

A tier has one fixed delay, so records in a partition become due in the order they arrive: holding a
partition at its first record not yet due holds back nothing that is due.
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
from automate.step_tasks import DUE_AT_HEADER, TARGET_HEADER, header
from automate.topics import RETRY_TIERS, retry_topic
from automate.transport import FAILOVER, AsyncProducer, TopicPartition, take

__all__ = ["RetryWorker", "run_retry_worker"]

log = logging.getLogger("automate.runtime.retry")


class RetryWorker:
    def __init__(self, settings: Settings, *, group: str | None = None) -> None:
        self.settings = settings
        self.group = group or f"{settings.topic_prefix}-retry"
        self.forwarded = 0
        self.late_ms: collections.deque[float] = collections.deque(maxlen=100_000)  # for benchmarks
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        consumer = transport.consumer(self.settings, self.group, **{"fetch.wait.max.ms": 100}, **FAILOVER)
        io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="automate-retry-consumer")
        loop = asyncio.get_running_loop()
        producer = AsyncProducer(self.settings)
        # Per partition, the records fetched but not yet due, in order (a tier's records fall due in the
        # order they arrive). While a partition holds any, it is paused: nothing more is fetched for it,
        # and nothing is skipped, so no seek (and no refetch delay) is needed when it resumes.
        held: dict[tuple[str, int], collections.deque[tuple[float, Any]]] = {}

        def revoked(_consumer: Any, parts: list[Any]) -> None:
            for part in parts:  # another worker reads them again from the committed offset
                held.pop((part.topic, part.partition), None)

        topics = [retry_topic(self.settings, tier) for tier in RETRY_TIERS]
        await loop.run_in_executor(io, lambda: consumer.subscribe(topics, on_revoke=revoked,
                                                                  on_lost=revoked))

        async def send(msg: Any, due: float) -> None:
            target = header(msg, TARGET_HEADER)
            if target is None:
                log.warning("retry record without a target dropped",
                            extra={"action": "retry.no_target", "topic": msg.topic()})
                return
            await producer.send(target, msg.value(), key=(msg.key() or b"").decode() or None,
                                headers=msg.headers())
            self.forwarded += 1
            self.late_ms.append((time.time() - due) * 1000)

        async def forward(due_now: list[tuple[float, Any]]) -> None:
            """Re-produce all at once (acknowledged), then commit each partition past its last one."""
            if not due_now:
                return
            await asyncio.gather(*(send(msg, due) for due, msg in due_now))
            last: dict[tuple[str, int], int] = {}
            for _, msg in due_now:
                last[(msg.topic(), msg.partition())] = msg.offset() + 1
            commits = [TopicPartition(t, p, o) for (t, p), o in last.items()]
            await loop.run_in_executor(io, functools.partial(consumer.commit, offsets=commits,
                                                             asynchronous=False))

        try:
            while not self._stop.is_set():
                now = time.time()
                due_now: list[tuple[float, Any]] = []
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
                    due = int(header(msg, DUE_AT_HEADER) or 0) / 1000
                    if tp in held:
                        held[tp].append((due, msg))
                    elif due > time.time():
                        held[tp] = collections.deque([(due, msg)])
                        await loop.run_in_executor(io, consumer.pause,
                                                   [TopicPartition(msg.topic(), msg.partition())])
                    else:
                        due_now.append((due, msg))
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
