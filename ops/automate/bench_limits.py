"""`automate bench`'s measure of the machine itself, in the same run: raw single-row Postgres commits/s and
raw Kafka produce and consume msgs/s, so the pipeline's numbers show as a fraction of them."""

from __future__ import annotations

import time
import uuid

from automate import transport
from automate.config import Settings
from automate.db import connect
from automate.db.store import Store

__all__ = ["CommitProbe", "measure_limits"]


class CommitProbe(Store):
    """Single-row commits on a temporary table of its own: what the server's commits cost."""

    group = "bench"

    def create_table(self) -> None:
        self._execute("create_commit_table")

    def insert(self, n: int) -> None:
        self._execute("insert_commit", {"n": n})


def measure_limits(settings: Settings, seconds: float = 3.0, messages: int = 200_000) -> dict[str, float]:
    """Raw single-row Postgres commits/s, and Kafka produce and consume msgs/s (100-byte records)."""
    from automate.topics import ensure_topics

    out: dict[str, float] = {}
    with connect(settings, autocommit=True) as conn:
        probe = CommitProbe(conn)
        probe.create_table()
        n, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            with conn.transaction():
                probe.insert(n)
            n += 1
        out["postgres_commits_per_s"] = round(n / (time.perf_counter() - began))
    topic = settings.topic(f"limits.{uuid.uuid4().hex[:8]}")
    ensure_topics(settings, [topic])
    try:
        producer = transport.producer(settings, **{"linger.ms": 5, "queue.buffering.max.messages": 1_000_000})
        payload = b"x" * 100
        began = time.perf_counter()
        for i in range(messages):
            while True:
                try:
                    producer.produce(topic, payload, str(i).encode())
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(120)
        out["kafka_produce_per_s"] = round(messages / (time.perf_counter() - began))
        consumer = transport.consumer(settings, f"bench-limits-{uuid.uuid4().hex}")
        consumer.subscribe([topic])
        got, began, first = 0, time.perf_counter(), 0.0
        deadline = began + 120
        while got < messages and time.perf_counter() < deadline:
            batch = consumer.consume(10_000, 1.0)
            if batch and not first:
                first = time.perf_counter()
            got += sum(1 for m in batch if not m.error())
        consumer.close()
        out["kafka_consume_per_s"] = round(got / (time.perf_counter() - (first or began)))
    finally:
        transport.delete_topics(settings, topic)
    return out
