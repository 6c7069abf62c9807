"""What the Kafka workers share: the Avro records they read and write, an asyncio-friendly producer, and
committing offsets only up to the lowest unfinished message of each partition."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

from automate.config import Settings
from automate.records import Records

__all__ = [
    "RETRY_TIERS",
    "AsyncProducer",
    "OffsetTracker",
    "Records",
    "retry_topic",
    "send_step_task",
    "take",
    "tier_for",
]

# Fixed delay per tier, smallest first (DESIGN.md): a retry goes to the smallest tier at least its backoff.
RETRY_TIERS: tuple[tuple[str, float], ...] = (("1s", 1.0), ("10s", 10.0), ("1m", 60.0), ("10m", 600.0),
                                             ("1h", 3600.0))


def tier_for(delay: float) -> str:
    for name, seconds in RETRY_TIERS:
        if seconds >= delay:
            return name
    return RETRY_TIERS[-1][0]


def take(consumer: Any, max_messages: int, timeout: float) -> list[Any]:
    """Up to ``max_messages`` buffered messages, waiting up to ``timeout`` only while there are none.

    (``consumer.consume(n, timeout)`` waits for ``n`` messages or the full timeout: at a low rate, every
    message would wait the timeout out.)"""
    first = consumer.poll(timeout)
    if first is None:
        return []
    return [first, *consumer.consume(max_messages - 1, 0)]


def retry_topic(settings: Settings, tier: str) -> str:
    return settings.topic(f"retry.{tier}")


class AsyncProducer:
    """confluent-kafka's producer with awaitable deliveries (a background thread polls it)."""

    def __init__(self, settings: Settings, **config: Any) -> None:
        from confluent_kafka import Producer

        self._producer = Producer({
            "bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True,
            "partitioner": "murmur2_random", "linger.ms": 2, "log_level": 3, **config,
        })
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        import threading

        self._thread = threading.Thread(target=self._poll, name="automate-producer-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._closed:
            self._producer.poll(0.05)

    async def send(self, topic: str, value: bytes, key: str | None = None,
                   headers: list[tuple[str, str | bytes | None]] | None = None) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(err: Any) -> None:
            if done.done():
                return
            if err is None:
                done.set_result(None)
            else:
                done.set_exception(RuntimeError(str(err)))

        def on_delivery(err: Any, _msg: Any) -> None:
            loop.call_soon_threadsafe(settle, err)

        while True:
            try:
                self._producer.produce(topic, value=value, key=key.encode() if key else None,
                                       headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                await asyncio.sleep(0.01)
        await done

    def close(self) -> None:
        self._producer.flush(10)
        self._closed = True
        self._thread.join(2)


class OffsetTracker:
    """Per partition, the offsets in flight; the committable offset is one past the longest finished
    prefix, so a crash re-delivers everything not finished (and maybe some finished: at-least-once)."""

    def __init__(self) -> None:
        self._inflight: dict[tuple[str, int], collections.OrderedDict[int, bool]] = {}

    def started(self, topic: str, partition: int, offset: int) -> None:
        self._inflight.setdefault((topic, partition), collections.OrderedDict())[offset] = False

    def finished(self, topic: str, partition: int, offset: int) -> None:
        self._inflight[(topic, partition)][offset] = True

    def committable(self) -> dict[tuple[str, int], int]:
        """Offsets to commit now (and forgets the finished prefix)."""
        out: dict[tuple[str, int], int] = {}
        for tp, offsets in self._inflight.items():
            last = None
            while offsets:
                first = next(iter(offsets))
                if not offsets[first]:
                    break
                offsets.popitem(last=False)
                last = first
            if last is not None:
                out[tp] = last + 1
        return out

    def forget(self, topic: str, partition: int) -> None:
        self._inflight.pop((topic, partition), None)

    def pending(self) -> int:
        return sum(1 for offsets in self._inflight.values() for done in offsets.values() if not done)


async def send_step_task(settings: Settings, records: Records, producer: AsyncProducer, task: Any) -> None:
    """Produce a StepTask (a retry, a wait or a replay of ``task``: an engine ``Deferred``) to the retry
    tier of its delay, with the headers the retry worker reads."""
    due_ms = int(task.due_at * 1000)
    record = {"execution_id": task.execution_id, "tenant": task.tenant, "workflow_slug": task.workflow_slug,
              "step_id": task.step_id, "attempt": task.attempt, "due_at": due_ms, "reason": task.reason}
    await producer.send(
        retry_topic(settings, tier_for(max(0.0, task.due_at - time.time()))),
        records.encode("StepTask", record),
        key=task.execution_id,
        headers=[("automate_due_at", str(due_ms)), ("automate_attempt", str(task.attempt)),
                 ("automate_target", settings.topic(f"workflow.{task.workflow_slug}"))],
    )
