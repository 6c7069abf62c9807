"""``automate smoke``: one Avro record through the registry and Kafka and back, to prove the stack works."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import click

from automate.cli.common import console, fail, settings_of
from automate.config import Settings
from automate.errors import CheckFailed
from automate.redact import mask_url

__all__ = ["SMOKE_SCHEMA", "run_smoke", "smoke"]

SMOKE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Smoke",
    "namespace": "dev.automate",
    "doc": "One record sent by `automate smoke` to check the stack end to end.",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "sent_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "message", "type": "string"},
    ],
}


def run_smoke(settings: Settings, topic: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Register the schema, produce one record, consume it back (authenticating as the settings say,
    ``AUTOMATE_KAFKA_*``); returns what happened."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from automate.kafka_security import librdkafka_config
    from automate.topics import ensure_topics

    bootstrap = settings.bootstrap_servers
    security = librdkafka_config(settings)
    ensure_topics(settings, [topic], partitions=1, timeout=timeout_s)

    registry = SchemaRegistryClient({"url": settings.registry_url})
    serializer = AvroSerializer(registry, json.dumps(SMOKE_SCHEMA), conf={"auto.register.schemas": True})
    deserializer = AvroDeserializer(registry)
    record_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    sent_at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # timestamp-millis precision
    value = {"id": record_id, "sent_at": sent_at, "message": "hello from automate smoke"}
    ctx = SerializationContext(topic, MessageField.VALUE)
    payload = serializer(value, ctx)
    assert payload is not None
    schema_id = int.from_bytes(payload[1:5], "big")

    # log_level 3: a fresh broker answers "coordinator load in progress" once; the client retries.
    producer = Producer({"bootstrap.servers": bootstrap, **security, "enable.idempotence": True,
                         "partitioner": "murmur2_random", "log_level": 3})
    began = time.monotonic()
    producer.produce(topic, key=record_id.encode(), value=payload)
    if producer.flush(timeout_s) != 0:
        raise CheckFailed(f"the record was not acknowledged by {bootstrap} within {timeout_s}s")
    produced_ms = (time.monotonic() - began) * 1000

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        **security,
        "group.id": f"automate-smoke-{record_id}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            if msg.key() != record_id.encode():
                continue
            decoded = deserializer(msg.value(), ctx)
            return {
                "topic": topic,
                "partition": msg.partition(),
                "offset": msg.offset(),
                "schema_id": schema_id,
                "sent": value,
                "received": decoded,
                "produce_ms": round(produced_ms, 1),
                "round_trip_ms": round((time.monotonic() - began) * 1000, 1),
            }
    finally:
        consumer.close()
    raise CheckFailed(f"the record did not come back from {topic} within {timeout_s}s")


@click.command()
@click.option("--topic", default=None, help="Topic to use (default: <prefix>.smoke).")
@click.pass_context
def smoke(ctx: click.Context, topic: str | None) -> None:
    """Produce one Avro record through the schema registry and Kafka, consume it back, show what happened."""
    settings = settings_of(ctx)
    try:
        result = run_smoke(settings, topic or settings.topic("smoke"))
    except Exception as exc:  # any failure here is the answer the command exists to give
        fail(f"smoke test failed: {type(exc).__name__}: {exc}")
    if result["received"] != result["sent"]:
        fail(f"the record came back different: sent {result['sent']}, received {result['received']}")
    console.print(
        f"[green]smoke ok[/]: registered schema id {result['schema_id']} at "
        f"{mask_url(settings.registry_url)}, "
        f"produced 1 Avro record to {result['topic']}[{result['partition']}]@{result['offset']} "
        f"in {result['produce_ms']} ms, consumed and decoded it back in {result['round_trip_ms']} ms"
    )
    click.echo(json.dumps(result, default=str))
