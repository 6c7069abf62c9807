"""The router, without a broker or a database: from one event record to its execution requests."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from automate.config import Settings
from automate.contracts import ContractSet, encode
from automate.errors import ErrorCodes, RecordError
from automate.events.emitter import Emitter
from automate.ids import execution_id
from automate.processors import EventSchemas, Routed, Router, TriggerIndex, TriggerRow
from automate.processors.router import matching_targets
from automate.records import Records

SETTINGS = Settings()
CONTRACTS = ContractSet()
# Schema ids as a registry would have given them: the built-ins, then the event contracts.
IDS = {name: 10 + i for i, name in enumerate(CONTRACTS.builtins())}
EVENT_IDS = {event_type: 50 + i for i, event_type in enumerate(CONTRACTS.event_types())}
BIG = "11111111-1111-4111-8111-111111111111"
ANY_ORDER = "22222222-2222-4222-8222-222222222222"
ACME_ONLY = "33333333-3333-4333-8333-333333333333"
OTHER_TENANT = "44444444-4444-4444-8444-444444444444"


def _records() -> Records:
    ids = {CONTRACTS.builtin(name).fingerprint: schema_id for name, schema_id in IDS.items()}
    return Records(ids, CONTRACTS)


def _router() -> Router:
    cached: list[tuple[int, Any]] = [(IDS[name], CONTRACTS.builtin(name).schema) for name in IDS]
    cached += [(EVENT_IDS[t], contract.schema) for t in EVENT_IDS if (contract := CONTRACTS.event(t))]
    index = TriggerIndex([
        TriggerRow(BIG, "acme", "big-orders", 3, "order.created", {">=": [{"var": "amount"}, 100]}),
        TriggerRow(ANY_ORDER, "acme", "any-order", 1, "order.*", None),
        TriggerRow(ACME_ONLY, "acme", "acme-only", 2, "*.created",
                   {"==": [{"var": "$event.tenant"}, "acme"]}),
        TriggerRow(OTHER_TENANT, "globex", "big-orders", 1, "order.created", None),
    ])
    # A registry URL nobody listens on: every schema this test uses is cached, so it is never asked.
    return Router(SETTINGS, EventSchemas("http://127.0.0.1:9/unused", cached), _records(), index)


def _event(event_type: str, payload: dict[str, Any], *, tenant: str = "acme", event_id: str | None = None
           ) -> tuple[bytes, list[tuple[str, bytes | None]], str]:
    emitter = Emitter(SETTINGS, CONTRACTS)
    contract, typed = emitter.contract_for(event_type)
    schema_id = EVENT_IDS[event_type] if typed else IDS["GenericEvent"]
    row = emitter.build(event_type, payload, schema_id, contract, typed, dedupe_key=None, tenant=tenant,
                        key=None, event_id=event_id)
    headers: list[tuple[str, bytes | None]] = [("ce_id", row.id.encode()), ("ce_type", event_type.encode()),
                                               ("ce_tenant", tenant.encode()), ("ce_source", b"/checkout")]
    return row.payload, headers, row.id


ORDER = {"order_id": "ORD-1", "amount": 150.0, "customer_email": "a@example.com"}


def test_an_event_becomes_one_request_per_matching_automation() -> None:
    router, records = _router(), _records()
    value, headers, event_id = _event("order.created", ORDER)
    routed = router.route(value, headers, 1_700_000_000_000)
    assert routed.candidates == 3
    assert sorted(r.slug for r in routed.requests) == ["acme-only", "any-order", "big-orders"]
    for request in routed.requests:
        name, record = records.decode(request.value)
        automation = {"big-orders": BIG, "any-order": ANY_ORDER, "acme-only": ACME_ONLY}[request.slug]
        assert name == "ExecutionRequest"
        assert request.topic == f"automate.workflow.{request.slug}"
        assert request.key == record["execution_id"] == execution_id(event_id, automation)
        assert (record["tenant"], record["automation_id"], record["event_id"], record["event_type"]) == (
            "acme", automation, event_id, "order.created")
        assert json.loads(record["context"]) == {**ORDER, "currency": "USD", "priority": None}  # defaults
    assert {r.slug: records.decode(r.value)[1]["workflow_version"] for r in routed.requests} == {
        "big-orders": 3, "any-order": 1, "acme-only": 2}


def test_the_fast_encoding_is_fastavros() -> None:
    router, records = _router(), _records()
    assert router.encoder.fast
    value, headers, _ = _event("order.created", ORDER)
    for request in router.route(value, headers, 0).requests:
        _name, record = records.decode(request.value)
        assert request.value == records.encode("ExecutionRequest", record)


def test_a_rule_that_does_not_hold_starts_nothing_and_a_redelivery_asks_for_the_same_executions() -> None:
    router = _router()
    value, headers, _ = _event("order.created", {**ORDER, "amount": 99.5})
    assert sorted(r.slug for r in router.route(value, headers, 0).requests) == ["acme-only", "any-order"]
    first, again = router.route(value, headers, 0), router.route(value, headers, 0)
    assert sorted(r.key for r in again.requests) == sorted(r.key for r in first.requests)


def test_tenants_and_types_that_match_no_trigger() -> None:
    router = _router()
    value, headers, _ = _event("order.created", ORDER, tenant="initech")
    assert (router.route(value, headers, 0).candidates, router.route(value, headers, 0).requests) == (0, [])
    value, headers, _ = _event("user.signed_up", {"user_id": "u1"})
    assert router.route(value, headers, 0).requests == []
    value, headers, _ = _event("order.created", ORDER, tenant="globex")
    assert [r.slug for r in router.route(value, headers, 0).requests] == ["big-orders"]


def test_generic_events_are_routed_from_their_json_payload() -> None:
    router, records = _router(), _records()
    payload = {"order_id": "ORD-2", "lines": [{"sku": "A", "qty": 2}]}
    value, headers, _ = _event("order.shipped", payload)
    (request,) = router.route(value, headers, 0).requests
    assert request.slug == "any-order"
    assert json.loads(records.decode(request.value)[1]["context"]) == payload


def test_a_rule_that_raises_does_not_match_and_is_counted() -> None:
    candidates = TriggerIndex([TriggerRow(BIG, "acme", "throws", 1, "x.y", {"throw": "Nope"})]).candidates(
        "acme", "x.y")
    routed = Routed()
    assert matching_targets(candidates, {}, str(uuid.uuid4()), "x.y", "acme", 0, None, routed) == []
    assert routed.rule_errors == 1


def test_a_rule_past_a_limit_does_not_match_is_counted_and_the_next_candidate_is_evaluated() -> None:
    doubling = {"reduce": [{"var": "items"}, {"cat": [{"var": "accumulator"}, {"var": "accumulator"}]}, "ab"]}
    candidates = TriggerIndex([
        TriggerRow(BIG, "acme", "doubling", 1, "x.y", doubling),
        TriggerRow(ANY_ORDER, "acme", "fine", 1, "x.y", {"==": [{"var": "ok"}, True]}),
    ]).candidates("acme", "x.y")
    routed = Routed()
    payload = {"items": list(range(200)), "ok": True}
    matched = matching_targets(candidates, payload, str(uuid.uuid4()), "x.y", "acme", 0, None, routed)
    assert [target.slug for target in matched] == ["fine"]
    assert (routed.rule_errors, routed.rule_limits) == (1, ["doubling"])
    assert routed.rule_seconds < 5


FRAMED = b"\x00\x00\x00\x00\x01"
TYPED: list[tuple[str, bytes | None]] = [("ce_type", b"order.created"), ("ce_tenant", b"acme")]


@pytest.mark.parametrize(("headers", "value", "code"), [
    (TYPED, FRAMED, "event.headers"),
    ([("ce_id", b"not-a-uuid"), *TYPED], FRAMED, "event.headers"),
    ([("ce_id", b"\xff"), *TYPED], FRAMED, "event.headers"),
    ([("ce_id", str(uuid.uuid4()).encode()), *TYPED], None, "event.undecodable"),
    ([("ce_id", str(uuid.uuid4()).encode()), *TYPED], b"{not avro}", "event.undecodable"),
])
def test_records_that_cannot_be_read_are_poison(headers: list[tuple[str, bytes | None]], value: bytes | None,
                                                 code: str) -> None:
    with pytest.raises(RecordError) as refused:
        _router().route(value, headers, 0)
    assert refused.value.code == code


def test_a_body_its_writer_schema_cannot_decode_is_poison() -> None:
    contract = CONTRACTS.event("order.created")
    assert contract is not None
    truncated = encode(contract, EVENT_IDS["order.created"], ORDER)[:-4]
    headers = [("ce_id", str(uuid.uuid4()).encode()), ("ce_type", b"order.created"), ("ce_tenant", b"acme")]
    with pytest.raises(RecordError) as refused:
        _router().route(truncated, headers, 0)
    assert refused.value.code == ErrorCodes.EVENT_UNDECODABLE
