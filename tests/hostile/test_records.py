"""Hostile Kafka records: whatever bytes and headers reach the events topic or a workflow topic, the
processors and the runtime dead-letter the record with a typed code (byte for byte, as a ``poison`` letter)
and go on; the other tenant's events still run."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from automate import transport
from automate.config import Settings
from automate.records import Records
from automate.topics import events_topic
from tests.hostile.pipeline import ATTACKER, LivePipeline

TRIGGER = {"slug": "hostile-records", "name": "a trigger, so the processors decode the attacker's records",
           "trigger": {"event": "hostile.tick"}, "steps": [{"id": "noop", "action": "core.noop"}]}
DEEP = 200_000  # deeper than any JSON parser's recursion


def headers(type: str = "hostile.tick", tenant: str = ATTACKER) -> list[tuple[str, bytes]]:
    return [("ce_id", str(uuid.uuid4()).encode()), ("ce_type", type.encode()), ("ce_tenant", tenant.encode()),
            ("ce_source", b"hostile"), ("ce_specversion", b"1.0")]


def generic(records: Records, payload_text: str) -> bytes:
    return records.encode("GenericEvent", {"payload": payload_text})


def frame(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def typed_nan(settings: Settings) -> bytes:
    """An order.created record (its registered contract) whose amount is NaN: Avro carries it, JSON and
    Postgres do not."""
    from automate.contracts import ContractSet, encode
    from automate.db import connect
    from automate.db.schemas import SchemaStore

    contract = ContractSet().event("order.created")
    assert contract is not None
    with connect(settings) as conn:
        schema_id = SchemaStore(conn).ids_by_fingerprint()[contract.fingerprint]
    return encode(contract, schema_id, {"order_id": "o-1", "amount": float("nan"), "customer_email": "a@b.c",
                                        "currency": "USD", "priority": None})


def recursive_record(settings: Settings) -> bytes:
    """A record of a self-referencing schema registered by the attacker, nested 50 deep."""
    import httpx

    from automate.contracts import avro_long

    schema = {"type": "record", "name": "Node", "namespace": "hostile",
              "fields": [{"name": "next", "type": ["null", "Node"]}]}
    url = f"{settings.registry_url}/subjects/hostile-node-{uuid.uuid4().hex[:8]}/versions"
    answer = httpx.post(url, json={"schema": json.dumps(schema)}, timeout=30)
    answer.raise_for_status()
    return frame(int(answer.json()["id"]), avro_long(1) * 50 + avro_long(0))


Headers = list[tuple[str, bytes]] | None


def event_cases(records: Records, settings: Settings) -> dict[str, tuple[bytes, Headers]]:
    """name -> (value, headers) of records produced to the events topic."""
    task = records.encode("StepTask", {
        "execution_id": str(uuid.uuid4()), "tenant": ATTACKER, "workflow_slug": "x", "step_id": "s",
        "attempt": 1, "due_at": 0, "reason": "retry"}) if "dev.automate.StepTask" in records.id_of else b""
    return {
        "no headers": (b"\x00garbage", None),
        "headers not UTF-8": (b"\x00garbage", [("ce_id", b"\xff\xfe"), ("ce_type", b"\xc3("),
                                               ("ce_tenant", b"\x80")]),
        "empty body": (b"", headers()),
        "wrong magic byte": (b"\x07" + b"\x00" * 12, headers()),
        "frame shorter than its header": (b"\x00\x00\x01", headers()),
        "unknown schema id": (frame(987_654_321, b"\x02ab"), headers()),
        "truncated Avro body": (generic(records, '{"a": 1}')[:-3], headers()),
        "payload not JSON": (generic(records, "{not json"), headers()),
        "payload a JSON array": (generic(records, "[1, 2, 3]"), headers()),
        "payload nested beyond any parser": (generic(records, "[" * DEEP + "]" * DEEP), headers()),
        "payload with a lone surrogate": (generic(records, '{"a": "\\ud800"}'), headers()),
        "payload with an integer of 5,000 digits": (generic(records, '{"a": ' + "9" * 5000 + "}"), headers()),
        "another contract's record": (task, headers()),
        "payload with NaN": (generic(records, '{"a": NaN}'), headers()),
        "payload with Infinity deep inside": (generic(records, '{"a": [{"b": -Infinity}]}'), headers()),
        "a typed event with a NaN double": (typed_nan(settings), headers()),
        "a schema that refers to itself": (recursive_record(settings), headers()),
        "a 100 KB event type": (generic(records, "{}"), headers(type="hostile.tick" + "x" * 100_000)),
    }


def workflow_cases(records: Records, automation_id: str) -> dict[str, tuple[bytes, str | None]]:
    """name -> (value, the execution id it names) of records produced to the attacker's workflow topic."""
    def request(**overrides: Any) -> tuple[bytes, str]:
        record = {"execution_id": str(uuid.uuid4()), "tenant": ATTACKER, "automation_id": automation_id,
                  "workflow_slug": TRIGGER["slug"], "workflow_version": 1, "event_id": str(uuid.uuid4()),
                  "event_type": "hostile.tick", "context": "{}", "requested_at": int(time.time() * 1000),
                  **overrides}
        return records.encode("ExecutionRequest", record), str(record["execution_id"])

    return {
        "garbage": (b"\x00\x00\x00\x00\x01garbage", None),
        "not framed": (b"hello", None),
        "empty": (b"", None),
        "context not JSON": request(context="{oops"),
        "context a JSON string": request(context='"just a string"'),
        "context nested beyond any parser": request(context="[" * DEEP + "]" * DEEP),
        "context with NUL": request(context='{"a": "\\u0000"}'),
        "context with a lone surrogate": request(context='{"a": "\\ud800"}'),
        "context with NaN": request(context='{"a": NaN}'),
        "context with 1e400": request(context='{"a": 1e400}'),
        "execution id not a uuid": request(execution_id="../../etc/passwd"),
        "unknown automation": request(automation_id=str(uuid.uuid4())),
        "unknown version": request(workflow_version=9999),
    }


@pytest.fixture(scope="module")
def automation(live: LivePipeline) -> Iterator[str]:
    yield live.apply(TRIGGER)


def produce(live: LivePipeline, topic: str, value: bytes, hdrs: list[tuple[str, bytes]] | None) -> None:
    producer = transport.producer(live.base)
    producer.produce(topic, value, headers=hdrs)
    assert producer.flush(30) == 0


def letters_for(live: LivePipeline, originals: dict[str, bytes], timeout: float = 90.0) -> dict[str, str]:
    """The code of the dead letter that carries each original record, waiting until every one has one."""
    deadline = time.monotonic() + timeout
    found: dict[str, str] = {}
    while time.monotonic() < deadline:
        by_bytes = {bytes(r["original"]): r["error_code"] for r in live.dead_letters() if r.get("original")}
        found = {name: by_bytes[value] for name, value in originals.items() if value in by_bytes}
        if len(found) == len(originals):
            return found
        time.sleep(1)
    missing = sorted(set(originals) - set(found))
    raise AssertionError(f"no dead letter for {missing}; dead workers: {live.workers.dead()}")


def outcomes(live: LivePipeline, cases: dict[str, tuple[bytes, list[tuple[str, bytes]] | None]],
             silent: frozenset[str] = frozenset(), timeout: float = 90.0) -> dict[str, str]:
    """Per case: ``letter:<code>`` (dead-lettered), ``execution:<status>:<code>`` (its event ran) or
    ``none``; waits until every case but the ``silent`` ones (expected to leave no trace) has a letter or
    a settled execution, then reads once more after a grace of 3 s, so that a trace a silent case left
    meanwhile is seen too."""
    ids = {name: dict(h or {}).get("ce_id", b"").decode("utf-8", "replace") for name, (_, h) in cases.items()}
    deadline, last_look = time.monotonic() + timeout, False
    while True:
        by_bytes = {bytes(r["original"]): r["error_code"] for r in live.dead_letters()
                    if r.get("original") is not None}
        found: dict[str, str] = {}
        for name, (value, _) in cases.items():
            if value in by_bytes:
                found[name] = f"letter:{by_bytes[value]}"
                continue
            runs = live.executions(ids[name]) if len(ids[name]) == 36 else []
            if runs and all(status in ("SUCCESS", "FAILED", "CANCELED") for _, status, _ in runs):
                found[name] = ",".join(f"execution:{status}:{code}" for _, status, code in runs)
        if len(found) == len(cases) or time.monotonic() > deadline:
            return {name: found.get(name, "none") for name in cases}
        if not last_look and set(cases) - silent <= set(found):
            last_look, deadline = True, time.monotonic() + 3.0  # the others are done
        time.sleep(1)


def test_hostile_event_records_are_dead_lettered_and_the_processors_go_on(live: LivePipeline,
                                                                          automation: str) -> None:
    records = Records.load(live.base)
    cases = event_cases(records, live.base)
    for value, hdrs in cases.values():
        produce(live, events_topic(live.base), value, hdrs)
    live.assert_healthy(timeout=90)
    got = outcomes(live, cases, silent=frozenset({"a 100 KB event type"}))
    # A type no trigger names has no candidates: the processors skip it without decoding it.
    assert got.pop("a 100 KB event type") == "none"
    assert all(outcome.startswith("letter:") and "." in outcome for outcome in got.values()), json.dumps(got)


def test_hostile_workflow_records_are_dead_lettered_and_the_runtime_goes_on(live: LivePipeline,
                                                                            automation: str) -> None:
    records = Records.load(live.base)
    topic = live.base.topic(f"workflow.{TRIGGER['slug']}")
    cases = workflow_cases(records, automation)
    for value, _ in cases.values():
        produce(live, topic, value, None)
    live.assert_healthy(timeout=90)
    deadline = time.monotonic() + 90
    while True:
        letters = live.dead_letters()
        by_bytes = {bytes(r["original"]): r["error_code"] for r in letters if r.get("original") is not None}
        by_execution = {r["execution_id"]: r["error_code"] for r in letters if r.get("execution_id")}
        got: dict[str, str] = {}
        for name, (value, ident) in cases.items():
            if value in by_bytes:
                got[name] = f"letter:{by_bytes[value]}"
            elif ident in by_execution:
                got[name] = f"letter:{by_execution[ident]}"
        if len(got) == len(cases) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(got) == len(cases) and all("." in code for code in got.values()), json.dumps(got)
    # Nothing is left running: an execution a hostile request created has ended FAILED.
    statuses = live.query("SELECT status FROM execution WHERE automation_id = %s", automation)
    assert all(status == "FAILED" for (status,) in statuses), statuses
