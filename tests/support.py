"""Helpers for tests: polling instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def assert_eventually(check: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns a truthy value (or stops raising AssertionError), then return it."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except AssertionError as exc:
            last = exc
        else:
            if result:
                return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s") from last


def partitions_held(client: Any, group: str) -> list[int]:
    """How many partitions each member of consumer group ``group`` holds; [] while the group's
    coordinator cannot answer (a fresh broker elects it, a rebalance moves it: NOT_COORDINATOR)."""
    from confluent_kafka import KafkaException

    try:
        described = client.describe_consumer_groups([group])[group].result(timeout=30)
    except KafkaException:
        return []
    return [len(member.assignment.topic_partitions) for member in described.members]


def consume(bootstrap: str, topic: str, until: Callable[[list[Any]], bool], *, timeout: float = 60.0,
            from_beginning: bool = True) -> list[Any]:
    """Read ``topic`` with a fresh consumer group until ``until(messages)`` holds; returns the messages."""
    import uuid

    from confluent_kafka import Consumer

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"test-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=5000, timeout=0.5):
                if not msg.error():
                    messages.append(msg)
            if until(messages):
                return messages
    finally:
        consumer.close()
    raise AssertionError(f"condition on {topic} not met within {timeout}s ({len(messages)} messages read)")


def header(msg: Any, name: str) -> bytes | None:
    for key, value in msg.headers() or []:
        if key == name:
            return bytes(value)
    return None
