"""Record sizes: one limit, ``max_payload_bytes``, and every Kafka limit derived from it here, in one place.

``AUTOMATE_MAX_PAYLOAD_BYTES`` (P, default 512 KiB) bounds what enters the pipeline, checked by
``emit_event`` and ``run_workflow`` before anything is written (``PayloadTooLarge``):

- an event's encoded payload (Avro, framed: what its outbox row holds), and the execution context the
  processors make of it (its JSON, UTF-8; for a generic event that is the payload's own JSON, for a typed
  one the decoded record's, which can be longer than its Avro);
- a ``run_workflow`` request's encoded ``ExecutionRequest`` (its context inside).

Every record the pipeline writes later is one of those plus fields the emitter bounds (a key of at most
1 KiB, a tenant of 255 bytes, a type of 200, a slug of 63, ids) or a small fixed record:

====================== =========================================================================
record                 at most (value + key + headers + Kafka's framing of one record)
====================== =========================================================================
event (events topic)   P + key 1 KiB + CloudEvents and traceparent headers < 1 KiB < P + RECORD_HEADROOM
                       + framing
ExecutionRequest       context P + fields < 1 KiB + key 36 B + traceparent 66 B    < P + RECORD_HEADROOM
StepTask               fields < 1 KiB + four headers < 400 B                       < RECORD_HEADROOM
DeadLetter             original <= record_max_bytes (else dropped, with a note)
                       + message 2,000 characters (8 KiB UTF-8) + fields < 1 KiB   < record_max_bytes
                                                                                     + LETTER_HEADROOM
====================== =========================================================================

so every record fits :func:`message_max_bytes`, the ``message.max.bytes`` of every producer (and
``batch.size``: librdkafka's batches of small records stay under it too) and Connect's
``max.request.size``; every topic the project creates gets ``max.message.bytes`` of
:func:`topic_max_bytes`, which adds the record batch's own framing.
``tests/unit/test_size_limits.py`` holds each line of the table with maximal records. With the default P
all of them are below Kafka's defaults (librdkafka 1,000,000, the broker 1,048,588), so topics made by
someone else fit as well.
"""

from __future__ import annotations

from typing import Any

from automate.config import Settings

__all__ = [
    "FRAMING",
    "LETTER_HEADROOM",
    "RECORD_HEADROOM",
    "connect_size_config",
    "context_bound",
    "message_max_bytes",
    "producer_size_config",
    "record_max_bytes",
    "topic_max_bytes",
    "topic_size_config",
]

RECORD_HEADROOM = 16 * 1024  # what a record adds to its payload or context: key, headers, fields, framing
LETTER_HEADROOM = 16 * 1024  # what a dead letter adds to the record it carries
FRAMING = 1024  # a record batch's header and librdkafka's estimate of it
JAVA_MAX_REQUEST_SIZE = 1_048_576  # the Java producer's default max.request.size (Connect's producer)


def record_max_bytes(settings: Settings) -> int:
    """The largest record the project writes to the events, workflow and retry topics; a dead letter
    carries an original up to this size whole."""
    return settings.max_payload_bytes + RECORD_HEADROOM


def message_max_bytes(settings: Settings) -> int:
    """The largest record of any kind the project writes (a dead letter of a maximal record): every
    producer's ``message.max.bytes`` and ``batch.size``, Connect's ``max.request.size``."""
    return record_max_bytes(settings) + LETTER_HEADROOM


def topic_max_bytes(settings: Settings) -> int:
    """``max.message.bytes`` of the topics the project creates: a batch of up to
    :func:`message_max_bytes` and its framing."""
    return message_max_bytes(settings) + FRAMING


_NUMBER = 40  # the longest JSON of an Avro number or of a date, time or timestamp it decodes to
_FIXED = {"null": 4, "boolean": 5, "int": _NUMBER, "long": _NUMBER, "float": _NUMBER, "double": _NUMBER,
          "string": 2, "bytes": 12}  # beyond 6 bytes per Avro byte (escapes, base64, decimal digits)


def context_bound(schema: Any) -> int | None:
    """A bound B such that the JSON the processors make of a record of ``schema`` (parsed) is at most
    ``6 * len(avro body) + B`` bytes, or None where there is none: with an array or a map, items that
    take no Avro byte at all (nulls, empty records) still take JSON. A string's bytes at most sextuple
    (a control character becomes ``\\u00XX``), bytes become base64, every value and name beyond its own
    Avro bytes adds at most B in all; emit_event decodes a typed event to measure its context only when
    this bound does not already show that it fits."""
    if isinstance(schema, list):  # a union: its branch index takes an Avro byte
        bounds = [context_bound(branch) for branch in schema]
        return None if any(b is None for b in bounds) else max(b for b in bounds if b is not None)
    if isinstance(schema, str):
        return _FIXED.get(schema)  # a named type's reference: None, decoded
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if kind == "record":
        total = 2
        for field in schema.get("fields", ()):
            inner = context_bound(field.get("type"))
            if inner is None:
                return None
            total += len(str(field.get("name", ""))) + 4 + inner
        return total
    if kind == "enum":
        return 2 + max((len(str(symbol)) for symbol in schema.get("symbols", ())), default=0)
    if kind == "fixed":
        return _FIXED["bytes"]
    if kind in ("array", "map"):
        return None
    return context_bound(kind) if isinstance(kind, str) and kind in _FIXED else None


def producer_size_config(settings: Settings) -> dict[str, Any]:
    """The librdkafka producer settings the limit decides."""
    limit = message_max_bytes(settings)
    return {"message.max.bytes": limit, "batch.size": limit}


def topic_size_config(settings: Settings) -> dict[str, str]:
    """The topic configuration the limit decides (for ``create_topics`` and Connect's topic creation)."""
    return {"max.message.bytes": str(topic_max_bytes(settings))}


def connect_size_config(settings: Settings) -> dict[str, str]:
    """What the outbox connector's configuration adds for the limit: the events topic's
    ``max.message.bytes`` should Connect create it, and the producer's ``max.request.size`` where the
    Java default (1 MiB) is too small (only then: a worker whose override policy is ``None`` refuses
    any override). Connect is not made to skip refused records (``errors.tolerance=all`` would also
    skip every record of a broker away longer than the producer's delivery timeout): the limit is what
    keeps its records in bounds (docs/outbox.md)."""
    config = {"topic.creation.default.max.message.bytes": str(topic_max_bytes(settings))}
    if message_max_bytes(settings) > JAVA_MAX_REQUEST_SIZE:
        config["producer.override.max.request.size"] = str(message_max_bytes(settings))
    return config
