"""Hostile sizes through the live workers: what emit_event and run_workflow accept fits every later record;
what they refuse is refused with PayloadTooLarge and nothing written; a record Kafka refuses all the same
(a topic an operator shrank, a foreign producer's huge record) ends failed or dead-lettered with a code,
and every worker goes on (``live.assert_healthy()``: the other tenant's canary still runs)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from automate import transport
from automate.errors import ErrorCodes, PayloadTooLarge
from automate.events import emit_event, run_workflow
from automate.events.emitter import MAX_KEY_BYTES
from automate.sizes import record_max_bytes, topic_max_bytes
from automate.topics import RETRY_TIERS, ensure_topics, events_topic, retry_topic, workflow_topic
from tests.hostile.pipeline import ATTACKER, LivePipeline
from tests.integration.size_support import generic_payload, set_topic_limit

pytestmark = pytest.mark.timeout(300)


def _noop(slug: str, event: str) -> dict[str, Any]:
    return {"slug": slug, "name": slug, "trigger": {"event": event},
            "steps": [{"id": "s", "action": "core.noop"}]}


def _outbox_rows(live: LivePipeline) -> int:
    return int(live.query("SELECT count(*) FROM automate_outbox")[0][0])


def _letters(live: LivePipeline, code: str, where: Callable[[dict[str, Any]], bool] = lambda _: True,
             timeout: float = 60.0) -> list[dict[str, Any]]:
    """The dead letters with ``code`` for which ``where`` holds, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        found = [letter for letter in live.dead_letters() if letter["error_code"] == code and where(letter)]
        if found or time.monotonic() > deadline:
            assert found, f"no dead letter with code {code} (and the case's content) after {timeout}s"
            return found
        time.sleep(0.5)


@pytest.mark.parametrize("key", [None, "k" * MAX_KEY_BYTES], ids=["event id key", "maximal key"])
def test_a_payload_at_exactly_the_limit_runs_end_to_end(live: LivePipeline, key: str | None) -> None:
    live.apply(_noop("size-exact", "size.exact"))
    payload = generic_payload(live.settings.max_payload_bytes)
    event_id = emit_event("size.exact", payload, key=key, settings=live.settings)
    assert [status for _, status, _ in live.settled(event_id, timeout=120)] == ["SUCCESS"]
    context = live.query("SELECT context FROM execution WHERE event_id = %s", event_id)[0][0]
    assert context == payload
    live.assert_healthy()


def test_a_typed_event_whose_context_is_just_within_the_limit_runs_end_to_end(live: LivePipeline) -> None:
    """Its Avro far below the limit, its context (decoded at emit to measure it) just within it."""
    live.apply(_noop("size-typed", "order.created"))
    limit = live.settings.max_payload_bytes
    # each control character is one Avro byte and six JSON bytes (\u0001); the rest of the context ~100
    email = "\x01" * ((limit - 200) // 6)
    payload = {"order_id": "o-1", "amount": 1.5, "customer_email": email}
    event_id = live.emit("order.created", payload)
    assert [status for _, status, _ in live.settled(event_id, timeout=120)] == ["SUCCESS"]
    context = live.query("SELECT context FROM execution WHERE event_id = %s", event_id)[0][0]
    assert context["customer_email"] == email
    live.assert_healthy()


@pytest.mark.parametrize("case", ["one byte over", "far over", "typed context bomb", "nested JSON bomb"])
def test_an_oversized_event_is_refused_at_emit(live: LivePipeline, case: str) -> None:
    limit = live.settings.max_payload_bytes
    before = _outbox_rows(live)
    event_type, payload = {
        "one byte over": ("size.over", generic_payload(limit + 1)),
        "far over": ("size.over", {"blob": "x" * (4 * limit)}),
        # one Avro byte, six JSON bytes each: the Avro fits, the context the runtime would get does not
        "typed context bomb": ("order.created", {"order_id": "o", "amount": 1.0,
                                                 "customer_email": "\x02" * (limit // 3)}),
        "nested JSON bomb": ("size.over", {"a": [[[["\x00" * 64] * 64] * 64] * 4]}),
    }[case]
    with pytest.raises(PayloadTooLarge) as caught:
        live.emit(event_type, payload)
    assert caught.value.code == ErrorCodes.EVENT_PAYLOAD_TOO_LARGE and caught.value.limit == limit
    assert caught.value.size > limit
    assert _outbox_rows(live) == before  # nothing written
    live.assert_healthy()


def test_run_workflow_inputs_above_the_limit_are_refused(live: LivePipeline) -> None:
    live.apply(_noop("size-started", "size.never"))
    before = live.query("SELECT count(*) FROM execution")[0][0]
    with pytest.raises(PayloadTooLarge):
        run_workflow("size-started", {"blob": "x" * live.settings.max_payload_bytes}, settings=live.settings)
    assert live.query("SELECT count(*) FROM execution")[0][0] == before
    execution_id = run_workflow("size-started", {"blob": "x" * (live.settings.max_payload_bytes - 1_000)},
                                settings=live.settings)
    deadline = time.monotonic() + 120
    status = "SELECT status FROM execution WHERE id = %s"
    while live.query(status, execution_id) != [("SUCCESS",)]:
        assert time.monotonic() < deadline, live.query(status, execution_id)
        time.sleep(0.3)
    live.assert_healthy()


def test_a_request_the_workflow_topic_refuses_is_dead_lettered(live: LivePipeline) -> None:
    live.apply(_noop("size-shrunk", "size.shrunk"))
    topic = workflow_topic(live.settings, "size-shrunk")
    ensure_topics(live.base, [topic])
    set_topic_limit(live.base, topic, 50_000)
    event_id = live.emit("size.shrunk", generic_payload(100_000))
    small = live.emit("size.shrunk", {"n": 1})  # its request may share a batch with the large one
    assert [status for _, status, _ in live.settled(small)] == ["SUCCESS"]
    letter = _letters(live, ErrorCodes.KAFKA_RECORD_TOO_LARGE,
                      lambda letter: letter["source_topic"] == events_topic(live.base))[0]
    assert letter["kind"] == "poison" and letter["original"] is not None
    assert len(letter["original"]) == 100_000  # the event, whole
    assert live.executions(event_id) == []  # nothing half-written
    live.assert_healthy()
    set_topic_limit(live.base, topic, topic_max_bytes(live.base))


def test_an_event_the_events_topic_refuses_marks_its_row_failed(live: LivePipeline) -> None:
    topic = events_topic(live.base)
    set_topic_limit(live.base, topic, 150_000)
    try:
        event_id = live.emit("size.refused", generic_payload(200_000))
        deadline = time.monotonic() + 60
        rows: list[tuple[Any, ...]] = []
        while time.monotonic() < deadline:
            rows = live.query("SELECT status, last_error FROM automate_outbox WHERE id = %s", event_id)
            if rows and rows[0][0] == "failed":
                break
            time.sleep(0.3)
        assert rows and rows[0][0] == "failed", rows
        assert str(rows[0][1]).startswith("kafka.record_too_large: ")
        live.assert_healthy()  # the relay went on: the canary's event is published after it
    finally:
        set_topic_limit(live.base, topic, topic_max_bytes(live.base))


def test_a_foreign_record_of_the_largest_size_is_dead_lettered_whole(live: LivePipeline) -> None:
    """The largest record the project itself writes, unreadable: its letter carries it byte for byte."""
    value = b"\x00\x7f\xff\xff\xfe" + b"\x02" * (record_max_bytes(live.base) - 5)
    producer = transport.producer(live.base)
    producer.produce(events_topic(live.base), value=value)
    assert producer.flush(30) == 0
    letters = _letters(live, ErrorCodes.EVENT_HEADERS, lambda letter: letter["original"] == value)
    assert "dropped" not in letters[0]["error_message"]
    live.assert_healthy()


@pytest.mark.parametrize("headers", ["none", "unknown schema", "retry tier"])
def test_a_foreign_record_too_large_to_keep_is_dead_lettered_without_it(live: LivePipeline,
                                                                        headers: str) -> None:
    """Written by another producer, bypassing emit_event: as large as the topic allows, and unreadable.
    Its letter would not fit with it: the original is dropped, the message says so."""
    size = record_max_bytes(live.base) + 8_000
    value = b"\x00\x7f\xff\xff\xff" + b"\x01" * (size - 5)  # framed, a schema id nobody has
    marks = [] if headers != "unknown schema" else [("ce_id", str(uuid.uuid4()).encode()), ("ce_type", b"x"),
                                                      ("ce_tenant", ATTACKER.encode())]
    topic = retry_topic(live.base, RETRY_TIERS[0]) if headers == "retry tier" else events_topic(live.base)
    producer = transport.producer(live.base)
    producer.produce(topic, value=value, headers=marks)
    assert producer.flush(30) == 0
    code = {"none": ErrorCodes.EVENT_HEADERS, "unknown schema": ErrorCodes.EVENT_SCHEMA_UNKNOWN,
            "retry tier": ErrorCodes.RETRY_HEADER_MISSING}[headers]
    _letters(live, code, lambda letter: letter["original"] is None
             and f"[original of {size} bytes dropped" in letter["error_message"])
    live.assert_healthy()


def test_a_step_task_the_retry_tier_refuses_fails_its_execution(live: LivePipeline) -> None:
    """The runtime's producer types the refusal (``kafka.record_too_large``); the worker fails the
    execution with that code and a dead letter, and goes on."""
    live.apply({"slug": "size-retry", "name": "size-retry", "trigger": {"event": "size.retry"},
                "steps": [{"id": "flaky", "action": "core.fail", "input": {"code": "http.503", "times": 1},
                           "retry": {"max_attempts": 2, "backoff": "fixed", "initial": "1s", "jitter": 0}}]})
    topic = retry_topic(live.base, RETRY_TIERS[0])
    set_topic_limit(live.base, topic, 100)
    try:
        event_id = live.emit("size.retry", {"n": 1})
        found = live.settled(event_id, timeout=90)
        assert [(status, code) for _, status, code in found] == [
            ("FAILED", ErrorCodes.KAFKA_RECORD_TOO_LARGE)]
        _letters(live, ErrorCodes.KAFKA_RECORD_TOO_LARGE,
                 lambda letter: letter["execution_id"] == found[0][0])
    finally:
        set_topic_limit(live.base, topic, topic_max_bytes(live.base))
    live.assert_healthy()
