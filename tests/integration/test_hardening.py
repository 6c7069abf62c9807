"""Hostile and unlucky input to the runtime (issue 16): records the retry worker cannot trust, a server's
``Retry-After`` beyond the retry policy, waits of no length and outputs Postgres cannot store. Each case
ends typed (a dead letter with its code, a FAILED step and execution) and the worker goes on."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from automate.config import Settings
from automate.records import Records
from automate.runtime.retry_worker import RetryWorker
from automate.step_tasks import DUE_AT_HEADER, TARGET_HEADER
from automate.topics import ensure_topics
from automate.transport import delete_topics
from tests.support import assert_eventually, consume, header

pytestmark = pytest.mark.integration


@contextmanager
def retry_worker(settings: Settings) -> Iterator[RetryWorker]:
    """The real retry worker of ``settings``, running in a thread of its own; re-raises what it raised."""
    worker = RetryWorker(settings, group=f"{settings.topic_prefix}-retry-{uuid.uuid4().hex[:6]}")
    loop = asyncio.new_event_loop()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            loop.run_until_complete(worker.run())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield worker
        assert not errors, errors
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(worker.stop)
        thread.join(60)
    if errors:
        raise errors[0]


def _records_in(settings: Settings, topic: str) -> int:
    """How many records ``topic`` holds (0 if it does not exist)."""
    metadata = AdminClient({"bootstrap.servers": settings.bootstrap_servers}).list_topics(topic, timeout=10)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        return 0
    reader = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"count-{uuid.uuid4()}"})
    try:
        total = 0
        for partition in found.partitions:
            low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        return total
    finally:
        reader.close()


def test_retry_worker_dead_letters_what_it_cannot_trust_and_goes_on(db_settings: Settings) -> None:
    s = db_settings
    good_topic = s.topic("workflow.good")
    foreign_prefix = f"x{uuid.uuid4().hex[:10]}"
    foreign = f"{foreign_prefix}.workflow.good"  # a workflow topic of another deployment
    ensure_topics(s, [good_topic], partitions=1)
    ensure_topics(s, [foreign], partitions=1)
    soon = str(int(time.time() * 1000))
    hostile: dict[bytes, tuple[list[tuple[str, bytes]], str]] = {
        b"due-text": ([(DUE_AT_HEADER, b"soon"), (TARGET_HEADER, good_topic.encode())],
                      "retry.due_at_invalid"),
        b"due-nan": ([(DUE_AT_HEADER, b"nan"), (TARGET_HEADER, good_topic.encode())], "retry.due_at_invalid"),
        b"due-negative": ([(DUE_AT_HEADER, b"-5"), (TARGET_HEADER, good_topic.encode())],
                          "retry.due_at_invalid"),
        b"due-huge": ([(DUE_AT_HEADER, b"9" * 40), (TARGET_HEADER, good_topic.encode())],
                      "retry.due_at_invalid"),
        b"due-not-utf8": ([(DUE_AT_HEADER, b"\xff\xfe"), (TARGET_HEADER, good_topic.encode())],
                          "retry.headers_undecodable"),
        b"target-not-utf8": ([(DUE_AT_HEADER, soon.encode()), (TARGET_HEADER, b"\xc3\x28")],
                             "retry.headers_undecodable"),
        b"no-headers": ([], "retry.header_missing"),
        b"no-target": ([(DUE_AT_HEADER, soon.encode())], "retry.header_missing"),
        b"empty-due": ([(DUE_AT_HEADER, b""), (TARGET_HEADER, good_topic.encode())], "retry.header_missing"),
        b"other-prefix": ([(DUE_AT_HEADER, soon.encode()), (TARGET_HEADER, foreign.encode())],
                          "retry.target_forbidden"),
        b"offsets": ([(DUE_AT_HEADER, soon.encode()), (TARGET_HEADER, b"__consumer_offsets")],
                     "retry.target_forbidden"),
        b"events": ([(DUE_AT_HEADER, soon.encode()), (TARGET_HEADER, s.topic("events").encode())],
                    "retry.target_forbidden"),
        b"dlq": ([(DUE_AT_HEADER, soon.encode()), (TARGET_HEADER, s.topic("dlq").encode())],
                 "retry.target_forbidden"),
        b"not-a-slug": ([(DUE_AT_HEADER, soon.encode()),
                         (TARGET_HEADER, s.topic("workflow.A/../b").encode())], "retry.target_forbidden"),
    }
    tier = s.topic("retry.1s")
    producer = Producer({"bootstrap.servers": s.bootstrap_servers})
    for value, (headers, _code) in hostile.items():  # one partition: the good record comes after them all
        producer.produce(tier, value=value, key=b"\xff\x00 not utf-8", headers=headers, partition=0)
    due_ms = int(time.time() * 1000) + 1500
    producer.produce(tier, value=b"good", key=b"k", partition=0,
                     headers=[(DUE_AT_HEADER, str(due_ms).encode()), (TARGET_HEADER, good_topic.encode())])
    producer.flush(30)
    try:
        with retry_worker(s) as worker:
            delivered = consume(s.bootstrap_servers, good_topic, lambda m: len(m) >= 1, timeout=60)
            assert_eventually(lambda: worker.dead_lettered == len(hostile), timeout=30)
            assert worker.forwarded == 1
        assert [m.value() for m in delivered] == [b"good"]
        assert delivered[0].timestamp()[1] >= due_ms  # never early
        assert header(delivered[0], DUE_AT_HEADER) == str(due_ms).encode()

        records = Records.load(s)
        letters = consume(s.bootstrap_servers, s.topic("dlq"), lambda m: len(m) >= len(hostile), timeout=30)
        found: dict[bytes, Any] = {}
        for msg in letters:
            _, letter = records.decode(msg.value())
            found[letter["original"]] = letter
        assert {original: letter["error_code"] for original, letter in found.items()} == {
            value: code for value, (_headers, code) in hostile.items()}
        assert all(letter["kind"] == "poison" and letter["source_topic"] == tier for letter in found.values())
        # Nothing went where the hostile records pointed.
        assert _records_in(s, foreign) == 0
        assert _records_in(s, s.topic("events")) == 0
        assert len(letters) == len(hostile)  # the dead-letter topic holds the letters only
    finally:
        delete_topics(s, foreign_prefix + ".")
