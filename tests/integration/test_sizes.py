"""One size limit on the real stack: a payload at exactly ``max_payload_bytes`` runs end to end; one byte
more (or a typed event whose context outgrows the limit, or run_workflow inputs above it) is refused at
emit with PayloadTooLarge and nothing is written; a record Kafka refuses for good (a topic whose
``max.message.bytes`` an operator lowered) marks its outbox row failed in the relay, or dead-letters its
event in the processors, and both go on with the next record."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest

from automate import transport
from automate.config import Settings
from automate.errors import ErrorCodes, PayloadTooLarge, TransportError
from automate.events import emit_event, run_workflow, transaction
from automate.records import Records
from automate.sizes import message_max_bytes, topic_max_bytes
from automate.topics import ensure_topics, events_topic, workflow_topic
from automate_core.outbox.relay import Relay
from tests.integration.runtime_support import Workers, apply_workflow
from tests.integration.size_support import generic_payload, set_topic_limit, topic_limit
from tests.integration.test_processors import Running
from tests.support import assert_eventually, consume

pytestmark = pytest.mark.timeout(300)


def _noop(slug: str, event: str) -> dict[str, Any]:
    return {"slug": slug, "name": slug, "trigger": {"event": event},
            "steps": [{"id": "s", "action": "core.noop"}]}


def _outbox(settings: Settings) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(settings.dsn) as conn:
        return [(str(r[0]), r[1], r[2]) for r in conn.execute(
            "SELECT id, status, last_error FROM automate_outbox ORDER BY created_at").fetchall()]


def _execution(settings: Settings, event_id: str) -> tuple[str, Any] | None:
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute("SELECT status, context FROM execution WHERE event_id = %s",
                           (event_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def test_the_project_creates_its_topics_with_the_derived_limit(db_settings: Settings) -> None:
    assert topic_limit(db_settings, events_topic(db_settings)) == topic_max_bytes(db_settings)
    assert topic_limit(db_settings, db_settings.topic("dlq")) == topic_max_bytes(db_settings)


def test_an_event_at_exactly_the_limit_runs_end_to_end(db_settings: Settings) -> None:
    s = db_settings
    apply_workflow(s, _noop("big", "big.event"))
    payload = generic_payload(s.max_payload_bytes)
    with Running(s), Workers(s):
        event_id = emit_event("big.event", payload, settings=s)
        found = assert_eventually(lambda: (e := _execution(s, event_id)) and e[0] == "SUCCESS" and e,
                                  timeout=120, interval=0.3)
    assert found[1] == payload


def test_one_byte_more_is_refused_at_emit_and_nothing_is_written(db_settings: Settings) -> None:
    s = db_settings
    with transaction(s) as conn:
        with pytest.raises(PayloadTooLarge) as caught:
            emit_event("big.event", generic_payload(s.max_payload_bytes + 1), connection=conn, settings=s)
        assert caught.value.code == ErrorCodes.EVENT_PAYLOAD_TOO_LARGE
        assert (caught.value.size, caught.value.limit) == (s.max_payload_bytes + 1, s.max_payload_bytes)
        # the caller's transaction is untouched and goes on
        after = emit_event("small.event", {"n": 1}, connection=conn, settings=s)
    assert [row[0] for row in _outbox(s)] == [after]


def test_a_typed_event_whose_context_outgrows_the_limit_is_refused(db_settings: Settings) -> None:
    s = db_settings
    # Avro keeps a control character in one byte, JSON escapes it in six: the Avro fits, the context not
    email = "\x01" * (s.max_payload_bytes // 3)
    with pytest.raises(PayloadTooLarge, match="context") as caught:
        emit_event("order.created", {"order_id": "o", "amount": 1.0, "customer_email": email}, settings=s)
    assert caught.value.size > s.max_payload_bytes
    # a typed event near the limit whose context fits is accepted (decoded to measure it)
    near = "a" * (s.max_payload_bytes - 200)
    emit_event("order.created", {"order_id": "o", "amount": 1.0, "customer_email": near}, settings=s)
    assert len(_outbox(s)) == 1


def test_run_workflow_inputs_above_the_limit_are_refused(db_settings: Settings) -> None:
    s = db_settings
    apply_workflow(s, _noop("started", "never.emitted"))
    run_workflow("started", {"blob": "x" * (s.max_payload_bytes - 1000)}, settings=s)
    with pytest.raises(PayloadTooLarge, match="request"):
        run_workflow("started", {"blob": "x" * s.max_payload_bytes}, settings=s)
    with psycopg.connect(s.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM execution").fetchone() == (1,)
    assert len(_outbox(s)) == 1


@pytest.mark.parametrize("refused_by", ["broker", "producer"])
def test_the_relay_marks_a_refused_row_failed_and_goes_on(db_settings: Settings, refused_by: str) -> None:
    s = db_settings
    overrides: dict[str, Any] = {}
    if refused_by == "broker":  # the delivery report fails
        set_topic_limit(s, events_topic(s), 100_000)
    else:  # produce() itself refuses
        overrides = {"message.max.bytes": 100_000, "batch.size": 100_000}
    big = emit_event("big.event", generic_payload(200_000), settings=s)
    small = emit_event("small.event", {"n": 1}, settings=s)
    with Relay(s, producer_config=overrides) as relay:
        assert relay.drain(timeout=60) == 1
        assert relay.stats.failed == 1
    rows = _outbox(s)
    assert [(ident, status) for ident, status, _ in rows] == [(big, "failed")]
    assert rows[0][2] is not None and rows[0][2].startswith("kafka.record_too_large: ")
    published = consume(s.bootstrap_servers, events_topic(s), lambda m: len(m) >= 1, timeout=30)
    assert [dict(m.headers())["ce_id"].decode() for m in published] == [small]
    with Relay(s) as relay:  # the failed row is left for an operator, never claimed again
        assert relay.drain(timeout=10) == 0


def test_the_processors_dead_letter_an_event_whose_request_is_refused(db_settings: Settings) -> None:
    s = db_settings
    apply_workflow(s, _noop("shrunk", "big.event"))
    apply_workflow(s, _noop("fine", "small.event"))
    ensure_topics(s, [workflow_topic(s, "shrunk"), workflow_topic(s, "fine")])
    set_topic_limit(s, workflow_topic(s, "shrunk"), 50_000)
    with Running(s):
        big = emit_event("big.event", generic_payload(100_000), settings=s)
        small = emit_event("small.event", {"n": 1}, settings=s)
        letters = consume(s.bootstrap_servers, s.topic("dlq"), lambda m: len(m) >= 1, timeout=60)
        requests = consume(s.bootstrap_servers, workflow_topic(s, "fine"), lambda m: len(m) >= 1, timeout=60)
    records = Records.load(s)
    _, letter = records.decode(letters[0].value())
    assert letter["kind"] == "poison" and letter["error_code"] == ErrorCodes.KAFKA_RECORD_TOO_LARGE
    assert letter["source_topic"] == events_topic(s)
    assert letter["original"] is not None and len(letter["original"]) == 100_000  # the event, whole
    _, request = records.decode(requests[0].value())
    assert request["event_id"] == small
    assert big != small


def test_the_async_producer_types_size_refusals(db_settings: Settings) -> None:
    s = db_settings
    topic = s.topic("dlq")

    async def send(value: bytes, target: str) -> None:
        producer = transport.AsyncProducer(s)
        try:
            await producer.send(target, value, key="k")
        finally:
            producer.close()

    with pytest.raises(TransportError) as caught:  # produce() refuses it: above message.max.bytes
        asyncio.run(send(b"x" * (message_max_bytes(s) + 1), topic))
    assert caught.value.code == ErrorCodes.KAFKA_RECORD_TOO_LARGE and not caught.value.retryable
    small = s.topic(f"small-{uuid.uuid4().hex[:6]}")
    ensure_topics(s, [small], partitions=1)
    set_topic_limit(s, small, 10_000)
    with pytest.raises(TransportError) as caught:  # the broker refuses it: the delivery report
        asyncio.run(send(b"x" * 20_000, small))
    assert caught.value.code == ErrorCodes.KAFKA_RECORD_TOO_LARGE and not caught.value.retryable
    asyncio.run(send(b"x" * 1_000, small))  # and the next record goes


def test_a_kafka_produce_step_above_the_limit_fails_typed(connector_settings: Settings) -> None:
    from tests.integration.connector_support import connection, failure

    s = connector_settings
    topic = f"partner.big.{uuid.uuid4().hex[:6]}"
    ensure_topics(s, [topic], partitions=1)
    connection(s, "partner-bus", "kafka", {"topics": ["partner.big.*"]})
    value = {"a": "x" * (message_max_bytes(s) + 1)}  # a record the producer refuses before sending
    refused = failure(s, "kafka.produce", {"topic": topic, "value": value, "format": "json"},
                      connection="partner-bus")
    assert (refused.code, refused.retryable) == (ErrorCodes.INPUT_INVALID, False)
    assert "MSG_SIZE_TOO_LARGE" in refused.message


def test_automate_relay_once_names_the_rows_it_marked_failed(db_settings: Settings) -> None:
    import os
    import subprocess
    import sys

    s = db_settings
    set_topic_limit(s, events_topic(s), 100_000)
    emit_event("big.event", generic_payload(200_000), settings=s)
    emit_event("small.event", {"n": 1}, settings=s)
    env = {**os.environ, "AUTOMATE_DATABASE_URL": s.dsn, "AUTOMATE_TOPIC_PREFIX": s.topic_prefix,
           "AUTOMATE_PUBLISHER": "relay", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "automate.cli", "relay", "--once"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr  # (the console writes to stderr)
    assert "published 1 events" in said and "1 rows refused by Kafka for good, marked failed" in said, said


def test_debezium_publishes_a_maximal_event_as_the_relay_does(stack: Settings, db_settings: Settings) -> None:
    """Connect's producer takes the largest event emit_event accepts, with the largest key and tenant:
    the same bytes as the relay's record (Debezium's path within the limit too)."""
    from automate.db import migrate, set_publisher
    from automate.events.emitter import MAX_KEY_BYTES, MAX_TENANT_BYTES, Emitter
    from automate.registry import register_contracts
    from automate.stack.cdc import ensure_outbox_connector
    from tests.support import header

    with psycopg.connect(stack.dsn) as conn:  # the database Debezium watches
        migrate(conn)
        set_publisher(conn, "debezium")
        register_contracts(stack, conn)
    assert ensure_outbox_connector(stack) in ("created", "updated", "unchanged", "restarted")
    cdc, relay_side = Emitter(stack), Emitter(db_settings)
    contract, typed = cdc.contract_for("size.debezium")
    payload = generic_payload(stack.max_payload_bytes)
    with psycopg.connect(stack.dsn) as conn, conn.cursor() as cur:
        row = cdc.build("size.debezium", payload, cdc.schema_id(cur, contract), contract, typed,
                        dedupe_key=None, tenant="t" * MAX_TENANT_BYTES, key="k" * MAX_KEY_BYTES,
                        topic=stack.topic("events"))
        cdc.write(cur, row)
    with psycopg.connect(db_settings.dsn) as conn, conn.cursor() as cur:
        relay_side.write(cur, row)  # the same row, published by the relay to the same topic
    with Relay(db_settings) as relay:
        assert relay.drain() == 1

    def both(messages: list[Any]) -> bool:
        return sum(1 for m in messages if header(m, "ce_id") == row.id.encode()) == 2

    a, b = [m for m in consume(stack.bootstrap_servers, stack.topic("events"), both, timeout=120)
            if header(m, "ce_id") == row.id.encode()]
    assert len(a.value()) == len(b.value()) == stack.max_payload_bytes
    assert (a.key(), a.value(), a.headers()) == (b.key(), b.value(), b.headers())


def test_ensure_topics_names_an_existing_topic_below_the_limit(db_settings: Settings,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    s = db_settings
    set_topic_limit(s, events_topic(s), 100_000)
    with caplog.at_level("WARNING", logger="automate.topics"):
        assert ensure_topics(s, [events_topic(s), s.topic("dlq")]) == []
    below = [r for r in caplog.records if getattr(r, "action", None) == "topics.limit_below"]
    assert [(r.topic, r.limit, r.wanted) for r in below] == [  # type: ignore[attr-defined]
        (events_topic(s), 100_000, topic_max_bytes(s))]
    assert topic_limit(s, events_topic(s)) == 100_000  # left as it is: the operator's to raise
