"""emit_event refuses hostile arguments with typed errors before anything reaches Postgres (issue 16,
finding 9): oversized or malformed dedupe keys, lone surrogates and over-long integers in payloads."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from automate.config import Settings
from automate.errors import ErrorCodes, EventError, PayloadNotSerializable
from automate.events import emit_event, run_workflow, transaction

pytestmark = pytest.mark.integration

ORDER = {"order_id": "ORD-1", "amount": 1.5, "customer_email": "a@example.com"}
HUGE = 10**5000  # more than Python's 4,300-digit str limit


def outbox_count(settings: Settings) -> int:
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute("SELECT count(*) FROM automate_outbox").fetchone()
        dedupe = conn.execute("SELECT count(*) FROM automate_event_dedupe").fetchone()
    assert row is not None and dedupe is not None
    return int(row[0]) + int(dedupe[0])


@pytest.mark.parametrize("bad", ["k" * 5000, "é" * 600, "a\x00b", "a\ud800b", "", 42])
def test_bad_dedupe_key_is_typed_and_the_transaction_stays_usable(db_settings: Settings, bad: Any) -> None:
    with transaction(db_settings) as conn:
        with pytest.raises(EventError) as info:
            emit_event("user.signed_up", {"user_id": "U-1"}, bad, settings=db_settings)
        assert info.value.code == ErrorCodes.EVENT_INVALID_ARGUMENT
        conn.execute("CREATE TABLE business (x int)")  # the transaction is not aborted
        event_id = emit_event("user.signed_up", {"user_id": "U-1"}, "normal-key", settings=db_settings)
    with psycopg.connect(db_settings.dsn) as check:
        rows = check.execute("SELECT id::text, dedupe_key FROM automate_outbox").fetchall()
    assert rows == [(event_id, "normal-key")]


@pytest.mark.parametrize(("argument", "value"), [("tenant", "t\ud800"), ("tenant", "t\x00"),
                                                 ("tenant", "t" * 300), ("key", "k\x00"),
                                                 ("key", "k" * 2000)])
def test_bad_tenant_or_key_is_typed(db_settings: Settings, argument: str, value: str) -> None:
    with transaction(db_settings):
        with pytest.raises(EventError) as info:
            emit_event("user.signed_up", {"user_id": "U-1"}, settings=db_settings, **{argument: value})
        assert info.value.code == ErrorCodes.EVENT_INVALID_ARGUMENT
        emit_event("user.signed_up", {"user_id": "U-2"}, settings=db_settings)
    assert outbox_count(db_settings) == 1


@pytest.mark.parametrize(("event_type", "payload", "path"), [
    ("user.signed_up", {"name": "\ud800"}, "$.name"),
    ("user.signed_up", {"a": {"b": [1, "x\udfffy"]}}, "$.a.b[1]"),
    ("user.signed_up", {"a": {"\ud800": 1}}, "$.a.'\\ud800'"),
    ("user.signed_up", {"n": HUGE}, "$.n"),
    ("user.signed_up", {"a": [{"n": -HUGE}]}, "$.a[0].n"),
    ("order.created", {**ORDER, "customer_email": "x\ud800"}, "$.customer_email"),
    ("order.created", {**ORDER, "priority": "\udc00"}, "$.priority"),
])
def test_unencodable_payload_is_typed_with_its_path(db_settings: Settings, event_type: str,
                                                    payload: dict[str, Any], path: str) -> None:
    with transaction(db_settings):
        with pytest.raises(PayloadNotSerializable) as info:
            emit_event(event_type, payload, settings=db_settings)
        assert info.value.path == path
        assert info.value.code == ErrorCodes.EVENT_PAYLOAD_NOT_SERIALIZABLE
        emit_event("user.signed_up", {"user_id": "U-3"}, settings=db_settings)
    assert outbox_count(db_settings) == 1


def test_event_type_with_a_trailing_newline_is_refused(db_settings: Settings) -> None:
    with pytest.raises(EventError) as info:
        emit_event("order.created\n", ORDER, settings=db_settings)
    assert info.value.code == ErrorCodes.EVENT_INVALID_TYPE
    assert outbox_count(db_settings) == 0


@pytest.mark.parametrize(("payload", "tenant", "expected"), [
    ({"a": "\ud800"}, None, PayloadNotSerializable),
    ({"a": [HUGE]}, None, PayloadNotSerializable),
    ({"a": 1}, "t\ud800", EventError),
])
def test_run_workflow_refuses_unencodable_input(db_settings: Settings, payload: dict[str, Any],
                                                tenant: str | None, expected: type[Exception]) -> None:
    with pytest.raises(expected) as info:
        run_workflow("any-workflow", payload, tenant=tenant, settings=db_settings)
    assert isinstance(info.value, EventError)
    assert info.value.code in (ErrorCodes.EVENT_PAYLOAD_NOT_SERIALIZABLE, ErrorCodes.EVENT_INVALID_ARGUMENT)
    assert outbox_count(db_settings) == 0
