"""`automate retry-worker`: holds each retry-tier partition until its head record is due (never early),
then re-produces the record to its workflow topic and commits.

A tier has one fixed delay, so records in a partition become due in the order they arrive: pausing the
partition at the first record not yet due holds back nothing that is due.
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

from automate.config import Settings
from automate.runtime.kafka_io import RETRY_TIERS, AsyncProducer, retry_topic

__all__ = ["RetryWorker", "run_retry_worker"]

log = logging.getLogger("automate.runtime.retry")


def _header(msg: Any, name: str) -> str | None:
    for key, value in msg.headers() or []:
        if key == name and value is not None:
            return bytes(value).decode()
    return None


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
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({
            "bootstrap.servers": self.settings.bootstrap_servers, "group.id": self.group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 3,
        })
        io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="automate-retry-consumer")
        loop = asyncio.get_running_loop()
        producer = AsyncProducer(self.settings)
        paused: dict[tuple[str, int], tuple[float, int]] = {}  # (topic, partition) -> (due, offset)
        topics = [retry_topic(self.settings, name) for name, _ in RETRY_TIERS]
        await loop.run_in_executor(io, lambda: consumer.subscribe(topics))
        try:
            while not self._stop.is_set():
                now = time.time()
                due_now = [(tp, off) for tp, (due, off) in paused.items() if due <= now]
                if due_now:
                    parts = [TopicPartition(t, p, off) for (t, p), off in due_now]
                    for tp, _ in due_now:
                        del paused[tp]

                    def resume(parts: list[Any] = parts) -> None:
                        consumer.resume(parts)
                        for part in parts:
                            consumer.seek(part)

                    await loop.run_in_executor(io, resume)
                wait = 0.05
                if paused:
                    wait = max(0.0, min(0.05, min(due for due, _ in paused.values()) - time.time()))
                messages: list[Any] = await loop.run_in_executor(io, consumer.consume, 200, wait)
                for msg in messages:
                    if msg.error():
                        continue
                    tp = (msg.topic(), msg.partition())
                    if tp in paused:
                        continue  # fetched before the pause took effect: re-read after the seek
                    due = int(_header(msg, "automate_due_at") or 0) / 1000
                    target = _header(msg, "automate_target")
                    if due > time.time():
                        paused[tp] = (due, msg.offset())
                        part = TopicPartition(msg.topic(), msg.partition(), msg.offset())
                        await loop.run_in_executor(io, consumer.pause, [part])
                        continue
                    if target:
                        await producer.send(target, msg.value(), key=(msg.key() or b"").decode() or None,
                                            headers=msg.headers())
                        self.forwarded += 1
                        self.late_ms.append((time.time() - due) * 1000)
                    else:
                        log.warning("retry record without a target dropped",
                                    extra={"action": "retry.no_target", "topic": msg.topic()})
                    commit = TopicPartition(msg.topic(), msg.partition(), msg.offset() + 1)
                    await loop.run_in_executor(io, functools.partial(consumer.commit, offsets=[commit],
                                                                     asynchronous=False))
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
