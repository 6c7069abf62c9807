"""Avro contracts without any service: framing, validation messages, JSON checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automate.config import Settings
from automate.contracts import Contract, ContractSet, canonical_json, check_json, decode, encode, split_wire
from automate.errors import PayloadNotSerializable, RecordError, SchemaViolation
from automate.events.emitter import Emitter

NESTED = Contract({
    "type": "record", "name": "Outer", "namespace": "dev.test",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "inner",
         "type": {"type": "record", "name": "Inner", "fields": [{"name": "n", "type": "int"}]}},
    ],
})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def test_wire_format_frames_the_schema_id() -> None:
    data = encode(NESTED, 258, {"id": "x", "inner": {"n": 7}})
    assert data[:5] == b"\x00\x00\x00\x01\x02"
    assert split_wire(data)[0] == 258
    assert decode(NESTED, data) == {"id": "x", "inner": {"n": 7}}


def test_unframed_bytes_are_refused() -> None:
    with pytest.raises(RecordError, match="wire-format") as refused:
        split_wire(b"\x01abc")
    assert refused.value.code == "record.unreadable"


def test_violation_names_the_nested_field() -> None:
    with pytest.raises(SchemaViolation) as caught:
        NESTED.validate({"id": "x", "inner": {"n": "seven"}})
    assert caught.value.field == "Inner.n"  # fastavro reports the innermost record only


def test_subject_is_the_record_full_name() -> None:
    assert NESTED.subject == "dev.test.Outer"
    assert NESTED.field_names == {"id", "inner"}


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_generic_envelope_round_trips_any_json(value: Any) -> None:
    contract = ContractSet().builtin("GenericEvent")
    check_json({"v": value})
    data = encode(contract, 1, {"payload": canonical_json({"v": value})})
    assert json.loads(decode(contract, data)["payload"]) == {"v": value}


@settings(max_examples=200, deadline=None)
@given(json_values, st.integers(0, 2**31 - 1))
def test_emitted_generic_event_is_byte_for_byte_fastavros(value: Any, schema_id: int) -> None:
    # emit_event frames the envelope by hand (one string field); it must stay what fastavro writes.
    contract = ContractSet().builtin("GenericEvent")
    emitter = Emitter(Settings())
    row = emitter.build("any.type", {"v": value}, schema_id, contract, False,
                        dedupe_key=None, tenant=None, key=None)
    assert row.payload == encode(contract, schema_id, {"payload": canonical_json({"v": value})})


@pytest.mark.parametrize(("payload", "path"), [
    ({"a": {1, 2}}, "$.a"),
    ({"a": [1, b"bytes"]}, "$.a[1]"),
    ({"a": {"b": float("inf")}}, "$.a.b"),
])
def test_check_json_names_the_path(payload: dict[str, Any], path: str) -> None:
    with pytest.raises(PayloadNotSerializable) as caught:
        check_json(payload)
    assert caught.value.path == path


def test_check_json_refuses_runaway_nesting_without_recursion() -> None:
    deep: Any = "leaf"
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(PayloadNotSerializable, match="deeper than 256"):
        check_json({"x": deep})


def test_contract_set_finds_event_types_and_builtins(tmp_path: Path) -> None:
    shipped = ContractSet()
    assert "order.created" in shipped.event_types()
    assert {"GenericEvent", "ExecutionRequest"} <= set(shipped.builtins())
    assert shipped.event("no.such.type") is None
