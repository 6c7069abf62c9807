"""Helpers of the size tests (integration and hostile): payloads of an exact encoded size, and a topic
whose ``max.message.bytes`` an operator lowered by hand."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from automate import transport
from automate.config import Settings
from automate.contracts import avro_string, canonical_json, frame
from automate.transport import KafkaException


def generic_payload(encoded_size: int) -> dict[str, Any]:
    """A payload whose generic event encodes (framed) to exactly ``encoded_size`` bytes."""
    for n in range(max(0, encoded_size - 40), encoded_size):
        payload = {"blob": "x" * n}
        if len(frame(1) + avro_string(canonical_json(payload))) == encoded_size:
            return payload
    raise AssertionError(f"no generic payload encodes to {encoded_size} bytes")


def topic_limit(settings: Settings, topic: str, timeout: float = 30.0) -> int:
    """The topic's ``max.message.bytes`` (waiting for a topic just created to be known)."""
    client = transport.admin(settings)
    resource = ConfigResource(ResourceType.TOPIC, topic)
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = client.describe_configs([resource])[resource].result(30)
            return int(found["max.message.bytes"].value)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def set_topic_limit(settings: Settings, topic: str, max_bytes: int) -> None:
    """Set the topic's ``max.message.bytes`` (as an operator would) and wait until the broker reports it."""
    topic_limit(settings, topic)  # known to the broker
    client = transport.admin(settings)
    entry = ConfigEntry("max.message.bytes", str(max_bytes), incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in client.incremental_alter_configs([resource]).values():
        future.result(30)
    deadline = time.monotonic() + 30
    while topic_limit(settings, topic) != max_bytes:
        assert time.monotonic() < deadline, f"{topic}: max.message.bytes not {max_bytes} after 30 s"
        time.sleep(0.2)
    time.sleep(3.0)  # the partition leader applies the new limit with the metadata update
