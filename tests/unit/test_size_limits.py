"""The size inequality of automate.sizes, held with maximal records: whatever emit_event and run_workflow
accept, every record the pipeline then writes (the event, its execution request, step tasks, dead letters)
fits the producers' and the topics' limits, headers and keys included."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest

from automate.config import Settings
from automate.contracts import ContractSet, avro_string, context_json, decode, encode, frame
from automate.dead_letters import DeadLetter
from automate.events.emitter import MAX_KEY_BYTES, MAX_TENANT_BYTES
from automate.records import Records
from automate.sizes import (
    FRAMING,
    connect_size_config,
    context_bound,
    message_max_bytes,
    producer_size_config,
    record_max_bytes,
    topic_max_bytes,
    topic_size_config,
)
from automate.step_tasks import ATTEMPT_HEADER, DUE_AT_HEADER, TARGET_HEADER
from automate_core.outbox.relay import record_headers
from automate_core.outbox.store import OutboxItem

# What Kafka's v2 format adds to one record at most: its length, attributes, timestamp and offset deltas,
# key and value lengths, header count (varints of up to 5 or 10 bytes), and two varints per header.
RECORD_OVERHEAD = 5 + 1 + 10 + 5 + 5 + 5 + 5
HEADER_OVERHEAD = 10
BATCH_HEADER = 61  # a record batch's own header (v2)

TENANT = "é" * (MAX_TENANT_BYTES // 2)  # 254 bytes of two-byte characters
EVENT_TYPE = "t" * 200
SLUG = "s" * 63


def wire_size(key: bytes | None, value: bytes, headers: list[tuple[str, Any]] | None = None) -> int:
    """One record's bytes on the wire, at most."""
    size = RECORD_OVERHEAD + len(key or b"") + len(value)
    for name, header in headers or ():
        data = header.encode() if isinstance(header, str) else header or b""
        size += HEADER_OVERHEAD + len(name.encode()) + len(data)
    return size


@pytest.fixture(params=[64 * 1024, 512 * 1024, 3 * 1024 * 1024], ids=["64k", "default", "3m"])
def settings(request: pytest.FixtureRequest) -> Settings:
    return Settings(max_payload_bytes=request.param)


@pytest.fixture(scope="module")
def records() -> Records:
    contracts = ContractSet()
    ids = {contracts.builtin(name).fingerprint: 100 + i for i, name in enumerate(contracts.builtins())}
    return Records(ids, contracts)


def test_the_defaults_stay_below_kafkas_own_limits() -> None:
    settings = Settings()
    assert settings.max_payload_bytes == 512 * 1024
    # librdkafka's message.max.bytes default, then the broker's (and any topic made without our config)
    assert topic_max_bytes(settings) < 1_000_000 < 1_048_588
    assert connect_size_config(settings) == {
        "topic.creation.default.max.message.bytes": str(topic_max_bytes(settings))}


def test_every_limit_comes_from_the_one_setting(settings: Settings) -> None:
    limit = message_max_bytes(settings)
    assert producer_size_config(settings) == {"message.max.bytes": limit, "batch.size": limit}
    assert topic_size_config(settings) == {"max.message.bytes": str(topic_max_bytes(settings))}
    assert record_max_bytes(settings) > settings.max_payload_bytes
    assert limit > record_max_bytes(settings)
    # a batch of records up to the producer's limit, and its framing, fits every topic
    assert limit + BATCH_HEADER <= limit + FRAMING == topic_max_bytes(settings)
    if limit > 1_048_576:
        assert connect_size_config(settings)["producer.override.max.request.size"] == str(limit)


def test_a_maximal_event_fits(settings: Settings) -> None:
    payload = b"\x00" * settings.max_payload_bytes  # the encoded payload emit_event lets through
    item = OutboxItem(id=str(uuid.uuid4()), tenant=TENANT, topic="x", key="k" * MAX_KEY_BYTES,
                      type=EVENT_TYPE, payload=payload, created_at=datetime(2030, 1, 1), attempts=0,
                      dedupe_key=None)
    size = wire_size(item.key.encode(), payload, record_headers(item))
    assert size <= record_max_bytes(settings)


def test_a_maximal_execution_request_fits(settings: Settings, records: Records) -> None:
    # the largest context: a generic event's JSON fills its payload; a typed event's is checked at emit
    context = "x" * settings.max_payload_bytes
    request = {"execution_id": str(uuid.uuid4()), "tenant": TENANT, "automation_id": str(uuid.uuid4()),
               "workflow_slug": SLUG, "workflow_version": 2**62, "event_id": str(uuid.uuid4()),
               "event_type": EVENT_TYPE, "context": context, "requested_at": 2**62}
    value = records.encode("ExecutionRequest", request)
    assert wire_size(request["execution_id"].encode(), value) <= record_max_bytes(settings)
    # run_workflow's request travels through the outbox as an event would, with its headers
    item = OutboxItem(id=str(uuid.uuid4()), tenant=TENANT, topic="x", key=request["execution_id"],
                      type="automate.execution.requested", payload=value, created_at=datetime(2030, 1, 1),
                      attempts=0, dedupe_key=None)
    assert wire_size(item.key.encode(), value, record_headers(item)) <= record_max_bytes(settings)


def test_a_maximal_step_task_fits(settings: Settings, records: Records) -> None:
    record = {"execution_id": str(uuid.uuid4()), "tenant": TENANT, "workflow_slug": SLUG,
              "step_id": "s" * 64, "attempt": 2**31 - 1, "due_at": 253_402_300_799_999, "reason": "replay"}
    value = records.encode("StepTask", record)
    headers = [(DUE_AT_HEADER, "253402300799999"), (ATTEMPT_HEADER, str(2**31 - 1)),
               (TARGET_HEADER, "p" * 249 + ".workflow." + SLUG)]
    assert wire_size(record["execution_id"].encode(), value, headers) <= record_max_bytes(settings)


def _letter(original: bytes | None) -> DeadLetter:
    return DeadLetter(kind="poison", error_code="e" * 100, error_message="😀" * 2000,  # 8,000 bytes
                      execution_id=str(uuid.uuid4()), tenant=TENANT, workflow_slug=SLUG, step_id="s" * 64,
                      attempt=2**31 - 1, source_topic="p" * 249, original=original)


def test_a_dead_letter_of_a_maximal_record_fits_whole(settings: Settings, records: Records) -> None:
    original = b"\xff" * record_max_bytes(settings)
    letter = _letter(original)
    value = letter.encode(records, max_original=record_max_bytes(settings))
    assert original in value
    assert wire_size((letter.key or "").encode(), value) <= message_max_bytes(settings)


def test_a_larger_original_is_dropped_with_a_note(settings: Settings, records: Records) -> None:
    original = b"\xff" * (record_max_bytes(settings) + 1)
    value = _letter(original).encode(records, max_original=record_max_bytes(settings))
    _, decoded = records.decode(value)
    assert decoded["original"] is None
    assert decoded["error_message"].endswith(
        f"[original of {len(original)} bytes dropped: above {record_max_bytes(settings)}]")
    assert wire_size(None, value) <= message_max_bytes(settings)


# -- the context of a typed event: emit_event skips decoding only where the bound proves it fits ---------

HOSTILE_STRINGS = ["", "a", "\x00" * 50, '"\\' * 40, "é😀" * 30, "\x1f\u2028\ud7ff" * 20]


def _flat_contract() -> dict[str, Any]:
    return {"type": "record", "name": "Flat", "namespace": "test.sizes", "fields": [
        {"name": "a_rather_long_field_name_for_a_small_value", "type": "boolean"},
        {"name": "n", "type": ["null", "long", "double", "string"], "default": None},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "VERY_LONG_SYMBOL_NAME"]}},
        {"name": "blob", "type": "bytes"},
        {"name": "tag", "type": {"type": "fixed", "name": "Tag", "size": 3}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 10}},
        {"name": "inner", "type": {"type": "record", "name": "Inner", "fields": [
            {"name": "s", "type": "string"}, {"name": "nothing", "type": "null"}]}},
    ]}


def test_the_context_bound_holds_for_hostile_values() -> None:
    import decimal

    from automate.contracts import Contract

    contract = Contract(_flat_contract())
    bound = context_bound(contract.parsed)
    assert bound is not None
    for i, text in enumerate(HOSTILE_STRINGS):
        for n in (None, 0, -(2**63), 2**63 - 1, -1.7976931348623157e308, 5e-324, text):
            record = {"a_rather_long_field_name_for_a_small_value": bool(i % 2), "n": n,
                      "kind": "VERY_LONG_SYMBOL_NAME" if i % 2 else "A", "blob": text.encode()[:7],
                      "tag": b"\x00\xff\x10", "at": datetime(1, 1, 1, 0, 0, 0, 1000),
                      "day": datetime(9999, 12, 31).date(),
                      "price": decimal.Decimal("-9999999999.9999999999"),
                      "inner": {"s": text, "nothing": None}}
            data = encode(contract, 1, record)
            size = len(context_json(decode(contract, data)).encode())
            assert size <= 6 * len(data) + bound, (record, size, len(data), bound)


def test_no_bound_where_items_need_no_avro_bytes() -> None:
    from automate.contracts import Contract

    nulls = {"type": "record", "name": "R",
             "fields": [{"name": "xs", "type": {"type": "array", "items": "null"}}]}

    contract = Contract(nulls)
    assert context_bound(contract.parsed) is None
    data = encode(contract, 1, {"xs": [None] * 1000})
    assert len(context_json(decode(contract, data)).encode()) > 6 * len(data)  # why: 1,000 nulls in 8 bytes


def test_the_order_contract_has_a_bound() -> None:
    contract = ContractSet().event("order.created")
    assert contract is not None
    assert context_bound(contract.parsed) is not None
    assert json.loads(context_json({"a": b"\x00"})) == {"a": "AA=="}
    assert avro_string("") == b"\x00" and len(frame(1)) == 5


@pytest.mark.parametrize("payload", [512 * 1024, 3 * 1024 * 1024])
def test_the_outbox_connector_gets_the_limit(tmp_path: Any, payload: int) -> None:
    from automate.stack.cdc import connector_config

    settings = Settings(home=tmp_path, max_payload_bytes=payload)
    config = connector_config(settings)
    assert config["topic.creation.default.max.message.bytes"] == str(topic_max_bytes(settings))
    # the override only where Java's default max.request.size (1 MiB) is too small
    assert config.get("producer.override.max.request.size") == (
        str(message_max_bytes(settings)) if payload > 1024 * 1024 else None)


def test_produce_errors_are_typed() -> None:
    from automate.errors import ErrorCodes
    from automate.transport import KafkaError, delivery_error, refused

    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
    assert refused(too_large)
    error = delivery_error(too_large, "t")
    assert (error.code, error.retryable) == (ErrorCodes.KAFKA_RECORD_TOO_LARGE, False)
    invalid = delivery_error(KafkaError(KafkaError.INVALID_RECORD), "t")
    assert (invalid.code, invalid.retryable) == (ErrorCodes.KAFKA_DELIVERY, False)
    for transient in (KafkaError._MSG_TIMED_OUT, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._TRANSPORT):
        assert not refused(KafkaError(transient))
        assert delivery_error(KafkaError(transient), "t").retryable
    assert not refused(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, fatal=True))  # the producer itself is gone
