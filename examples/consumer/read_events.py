"""Read Automate's events with confluent-kafka and fastavro alone: nothing of Automate is imported.

A record's value is Avro in the Confluent wire format: the magic byte 0, the writer schema's registry id
(4 bytes, big-endian), then the Avro body. The writer schema is fetched once per id from the registry
(``GET <registry>/schemas/ids/<id>``). The event's id, type and tenant are the CloudEvents headers
``ce_id``, ``ce_type`` and ``ce_tenant`` (UTF-8). An event type without a contract travels in the envelope
``dev.automate.GenericEvent``, whose one field ``payload`` is the event's JSON as text.

    python examples/consumer/read_events.py --max 10 --timeout 30

Prints one JSON line per record and exits 0 after ``--max`` records or ``--timeout`` seconds. Without
``--group`` it reads from the start of the topic with a new consumer group and commits nothing; with one it
commits each record after printing it (at least once: a record may come again, with the same ``ce_id``).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import urllib.request
import uuid
from typing import Any

import fastavro
from confluent_kafka import Consumer

GENERIC = "dev.automate.GenericEvent"


class Schemas:
    """Writer schemas by registry id, each fetched once."""

    def __init__(self, registry: str) -> None:
        self.registry = registry.rstrip("/")
        self.parsed: dict[int, Any] = {}

    def get(self, schema_id: int) -> Any:
        if schema_id not in self.parsed:
            with urllib.request.urlopen(f"{self.registry}/schemas/ids/{schema_id}", timeout=10) as answer:
                schema = json.loads(json.load(answer)["schema"])
            self.parsed[schema_id] = fastavro.parse_schema(schema)
        return self.parsed[schema_id]


def decode(value: bytes | None, schemas: Schemas) -> tuple[int, Any]:
    """(schema id, payload) of a record's value; the generic envelope's JSON is parsed."""
    if value is None or len(value) < 5 or value[0] != 0:
        raise ValueError("not in the Confluent wire format")
    schema_id = int.from_bytes(value[1:5], "big")
    schema = schemas.get(schema_id)
    record: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema)
    if schema["name"] == GENERIC:
        record = json.loads(record["payload"])
    return schema_id, record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print Automate's events, decoded.")
    parser.add_argument("--bootstrap", default="127.0.0.1:29092", help="Kafka bootstrap servers")
    parser.add_argument("--registry", default="http://127.0.0.1:28080/apis/ccompat/v7",
                        help="the schema registry's Confluent-compatible API")
    parser.add_argument("--topic", default="automate.events")
    parser.add_argument("--max", type=int, default=10, help="stop after this many records")
    parser.add_argument("--timeout", type=float, default=30.0, help="stop after this many seconds")
    parser.add_argument("--group", help="a consumer group to commit to (default: a new one, no commits)")
    args = parser.parse_args(argv)

    consumer = Consumer({"bootstrap.servers": args.bootstrap,
                         "group.id": args.group or f"read-events-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([args.topic])
    schemas = Schemas(args.registry)
    read = 0
    deadline = time.monotonic() + args.timeout
    try:
        while read < args.max and (left := deadline - time.monotonic()) > 0:
            msg = consumer.poll(min(left, 1.0))
            if msg is None:
                continue
            if msg.error():
                print(f"kafka: {msg.error()}", file=sys.stderr)
                continue
            read += 1
            found: Any = msg.headers() or []  # [(name, bytes)]
            headers = {name: bytes(value).decode("utf-8", "replace") for name, value in found
                       if value is not None}
            key = msg.key()
            out: dict[str, Any] = {
                "partition": msg.partition(), "offset": msg.offset(),
                "key": key.decode("utf-8", "replace") if key is not None else None,
                "id": headers.get("ce_id"), "type": headers.get("ce_type"),
                "tenant": headers.get("ce_tenant"),
            }
            try:
                out["schema_id"], out["payload"] = decode(msg.value(), schemas)
            except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:  # registry, framing, body
                out["error"] = f"{type(exc).__name__}: {exc}"
            print(json.dumps(out, default=str, ensure_ascii=False), flush=True)
            if args.group:
                consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()
    print(f"read {read} record(s) from {args.topic}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
