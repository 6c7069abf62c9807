"""The transactional outbox on the real stack: emit_event joins the caller's transaction, dedupes under
concurrency, validates contracts, and the relay publishes exactly what was committed."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import psycopg
import pytest

from automate.config import Settings
from automate.contracts import ContractSet, split_wire
from automate.errors import UsageError
from automate.events import (
    InvalidEventType,
    PayloadNotSerializable,
    PayloadTooLarge,
    SchemaNotRegistered,
    SchemaViolation,
    UnknownEventType,
    aemit_event,
    emit_event,
    transaction,
)
from automate_core.outbox.relay import Relay
from tests.support import assert_eventually, consume, header

pytestmark = pytest.mark.integration

ORDER = {"order_id": "ORD-123", "amount": 99.99, "customer_email": "john@example.com"}


def outbox_rows(settings: Settings) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.dsn) as conn:
        sql = "SELECT id::text, type, status FROM automate_outbox ORDER BY created_at"
        return conn.execute(sql).fetchall()


def test_rollback_publishes_nothing_and_commit_publishes_once(db_settings: Settings) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction(db_settings) as conn:
        conn.execute("CREATE TABLE business (x int)")
        emit_event("order.created", ORDER, settings=db_settings)
        raise Boom
    assert outbox_rows(db_settings) == []

    with transaction(db_settings):
        event_id = emit_event("order.created", ORDER, settings=db_settings)
    assert [r[0] for r in outbox_rows(db_settings)] == [event_id]

    with Relay(db_settings, batch_size=100) as relay:
        assert relay.drain() == 1
        assert outbox_rows(db_settings) == []  # published rows are cleaned up
        topic = db_settings.topic("events")
        msgs = consume(db_settings.bootstrap_servers, topic, lambda m: len(m) >= 1)
        assert [header(m, "ce_id") for m in msgs] == [event_id.encode()]
        assert header(msgs[0], "ce_type") == b"order.created"
        schema_id, _ = split_wire(msgs[0].value())
        assert schema_id > 0
        assert relay.drain() == 0  # nothing published twice


def test_explicit_connection_joins_its_transaction(db_settings: Settings) -> None:
    with psycopg.connect(db_settings.dsn) as conn:
        emit_event("user.signed_up", {"user_id": "USR-1"}, connection=conn, settings=db_settings)
        conn.rollback()
        assert outbox_rows(db_settings) == []
        event_id = emit_event("user.signed_up", {"user_id": "USR-1"}, connection=conn, settings=db_settings)
        assert outbox_rows(db_settings) == []  # not committed yet: invisible to others
        conn.commit()
    assert [r[0] for r in outbox_rows(db_settings)] == [event_id]


def test_without_a_transaction_it_commits_its_own(db_settings: Settings) -> None:
    event_id = emit_event("order.created", ORDER, settings=db_settings)
    assert [r[0] for r in outbox_rows(db_settings)] == [event_id]


def test_dedupe_key_returns_the_first_event(db_settings: Settings) -> None:
    first = emit_event("payment.received", {"payment_id": "PAY-456"}, dedupe_key="payment-PAY-456",
                       settings=db_settings)
    again = emit_event("payment.received", {"payment_id": "PAY-456"}, dedupe_key="payment-PAY-456",
                       settings=db_settings)
    other_tenant = emit_event("payment.received", {"payment_id": "PAY-456"}, dedupe_key="payment-PAY-456",
                              tenant="other", settings=db_settings)
    assert again == first != other_tenant
    assert len(outbox_rows(db_settings)) == 2


def test_dedupe_holds_under_concurrent_callers(db_settings: Settings) -> None:
    barrier = threading.Barrier(8)
    ids: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            with psycopg.connect(db_settings.dsn) as conn:
                barrier.wait()
                ids.append(emit_event("payment.received", {"payment_id": "PAY-9"}, dedupe_key="race",
                                      connection=conn, settings=db_settings))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 1 and len(ids) == 8
    assert len(outbox_rows(db_settings)) == 1


@pytest.mark.parametrize(
    ("event_type", "payload", "error", "match"),
    [
        ("order.created", {**ORDER, "amount": "lots"}, SchemaViolation, "field 'amount'"),
        ("order.created", {"order_id": "x", "amount": 1.0}, SchemaViolation, "customer_email"),
        ("order.created", {**ORDER, "coupon": "X"}, SchemaViolation, "'coupon' is not in the contract"),
        ("order.created", {**ORDER, "amount": object()}, SchemaViolation, "field 'amount'"),
        ("", {}, InvalidEventType, "invalid event type"),
        ("bad type!", {}, InvalidEventType, "invalid event type"),
        ("user.signed_up", {"when": object()}, PayloadNotSerializable, r"object at \$\.when"),
        ("user.signed_up", {"n": float("nan")}, PayloadNotSerializable, "non-finite"),
        ("user.signed_up", {1: "x"}, PayloadNotSerializable, "non-string key"),
        ("user.signed_up", ["not", "an", "object"], PayloadNotSerializable, "JSON object"),
        ("user.signed_up", {"blob": "x" * 2_000_000}, PayloadTooLarge, "above the limit"),
    ],
)
def test_bad_input_is_a_typed_error_and_writes_nothing(
    db_settings: Settings, event_type: str, payload: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        emit_event(event_type, payload, settings=db_settings)
    assert outbox_rows(db_settings) == []


def test_schema_violation_names_the_field(db_settings: Settings) -> None:
    with pytest.raises(SchemaViolation) as caught:
        emit_event("order.created", {**ORDER, "amount": "lots"}, settings=db_settings)
    assert caught.value.field == "amount"


def test_strict_mode_refuses_types_without_a_contract(db_settings: Settings) -> None:
    strict = Settings(**{**db_settings.model_dump(), "strict_event_types": True})
    with pytest.raises(UnknownEventType, match="no contract"):
        emit_event("user.signed_up", {"user_id": "U"}, settings=strict)
    assert emit_event("order.created", ORDER, settings=strict)
    assert len(outbox_rows(db_settings)) == 1


def test_unregistered_schema_is_reported(db_settings: Settings) -> None:
    with psycopg.connect(db_settings.dsn) as conn:
        conn.execute("DELETE FROM schema_id")
    fresh = Settings(**{**db_settings.model_dump(), "tenant": "fresh-cache"})  # a new emitter, no cache
    with pytest.raises(SchemaNotRegistered, match="automate schemas register"):
        emit_event("order.created", ORDER, settings=fresh)
    assert outbox_rows(db_settings) == []


def test_async_emit_joins_the_async_transaction(db_settings: Settings) -> None:
    async def scenario() -> str:
        async with await psycopg.AsyncConnection.connect(db_settings.dsn) as conn:
            await aemit_event("order.created", ORDER, connection=conn, settings=db_settings)
            await conn.rollback()
            event_id = await aemit_event("order.created", ORDER, connection=conn, settings=db_settings)
            await conn.commit()
            return event_id

    event_id = asyncio.run(scenario())
    assert [r[0] for r in outbox_rows(db_settings)] == [event_id]


def test_generic_envelope_round_trips_the_payload(db_settings: Settings) -> None:
    payload = {"user_id": "USR-123", "email": "newuser@example.com", "tags": ["a", 1, None]}
    event_id = emit_event("user.signed_up", payload, settings=db_settings)
    with Relay(db_settings) as relay:
        relay.drain()
    msgs = consume(db_settings.bootstrap_servers, db_settings.topic("events"), lambda m: len(m) >= 1)
    from automate.contracts import decode

    envelope = decode(ContractSet().builtin("GenericEvent"), msgs[0].value())
    import json

    assert json.loads(envelope["payload"]) == payload
    assert header(msgs[0], "ce_id") == event_id.encode()
    assert msgs[0].key() == event_id.encode()


def test_several_relays_publish_each_row_once(db_settings: Settings) -> None:
    with psycopg.connect(db_settings.dsn) as conn:
        ids = [emit_event("order.created", {**ORDER, "order_id": f"ORD-{i}"}, connection=conn,
                          settings=db_settings) for i in range(3000)]
        conn.commit()
    relays = [Relay(db_settings, batch_size=200) for _ in range(3)]
    threads = [threading.Thread(target=r.drain) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in relays:
        r.close()
    assert sum(r.stats.published for r in relays) == 3000
    assert all(r.stats.published > 0 for r in relays)
    msgs = consume(db_settings.bootstrap_servers, db_settings.topic("events"), lambda m: len(m) >= 3000)
    seen = [header(m, "ce_id") for m in msgs]
    assert len(seen) == 3000 and set(seen) == {i.encode() for i in ids}


def test_django_atomic_block_is_joined(db_settings: Settings) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    project = Path(__file__).parent / "django_project"
    env = {**os.environ, "AUTOMATE_DATABASE_URL": db_settings.dsn, "AUTOMATE_PUBLISHER": "relay",
           "AUTOMATE_TOPIC_PREFIX": db_settings.topic_prefix}
    result = subprocess.run([sys.executable, str(project / "scenario.py")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["orders"] == ["ORD-COMMITTED"]  # the rolled-back order is gone...
    rows = outbox_rows(db_settings)
    assert [r[0] for r in rows] == [report["committed_event"]]  # ...and so is its event


def _emit_many(settings: Settings, n: int) -> list[str]:
    with transaction(settings):
        return [emit_event("user.signed_up", {"n": i}, settings=settings) for i in range(n)]


def test_held_claims_are_exclusive_and_released_rows_come_back(db_settings: Settings) -> None:
    from automate_core.outbox.store import HeldClaimStore

    ids = _emit_many(db_settings, 10)
    first, second = HeldClaimStore(settings=db_settings), HeldClaimStore(settings=db_settings)
    try:
        a = first.claim(6)
        b = second.claim(6)  # skips the rows the first holds
        assert a is not None and b is not None
        assert len(a.items) == 6 and len(b.items) == 4
        assert {i.id for i in a.items} | {i.id for i in b.items} == set(ids)
        assert [i.id for i in a.items] == ids[:6]  # oldest first
        assert second.claim(6) is None  # nothing left that nobody holds
        a.settle([i.id for i in a.items])
        b.release()
        assert sorted(r[0] for r in outbox_rows(db_settings)) == sorted(ids[6:])  # deleted; given back
        again = first.claim(100)
        assert again is not None and [i.id for i in again.items] == ids[6:]
        again.release()
    finally:
        first.close()
        second.close()


def test_a_dead_claimers_rows_are_free_at_once_and_failures_wait_their_backoff(db_settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    from automate_core.outbox.store import HeldClaimStore

    ids = _emit_many(db_settings, 3)
    victim, survivor = HeldClaimStore(settings=db_settings), HeldClaimStore(settings=db_settings)
    try:
        held = victim.claim(10)
        assert held is not None and len(held.items) == 3
        with psycopg.connect(db_settings.dsn, autocommit=True) as admin:  # the relay's session dies
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'automate-relay' AND state = 'idle in transaction'")
        retaken = assert_eventually(lambda: survivor.claim(10), timeout=10)
        assert [i.id for i in retaken.items] == ids
        held.release()  # its session is gone: nothing to roll back, the connection is closed
        later = datetime.now(UTC) + timedelta(minutes=5)
        retaken.settle([ids[0]], [ids[1], ids[2]], next_attempt=later, error="broker away")
        with psycopg.connect(db_settings.dsn) as conn:
            rows = conn.execute("SELECT id::text, status, attempts, last_error FROM automate_outbox "
                                "ORDER BY id").fetchall()
        assert rows == sorted([(ids[1], "pending", 1, "broker away"), (ids[2], "pending", 1, "broker away")])
        assert survivor.claim(10) is None  # not due before their backoff
        with pytest.raises(UsageError, match="settled or released already"):
            retaken.settle([ids[0]])
    finally:
        victim.close()
        survivor.close()


def test_held_claims_vacuum_the_outbox_as_they_delete(db_settings: Settings) -> None:
    from automate_core.outbox.store import HeldClaimStore

    def vacuums() -> int:
        with psycopg.connect(db_settings.dsn) as conn:
            row = conn.execute("SELECT vacuum_count FROM pg_stat_user_tables "
                               "WHERE relname = 'automate_outbox'").fetchone()
        return int(row[0]) if row else 0

    before = vacuums()
    _emit_many(db_settings, 30)
    store = HeldClaimStore(settings=db_settings, vacuum_every=20)
    try:
        held = store.claim(25)
        assert held is not None
        held.settle([i.id for i in held.items])
    finally:
        store.close()  # waits for the vacuum it started
    assert_eventually(lambda: vacuums() > before, timeout=10)
    assert len(outbox_rows(db_settings)) == 5


def test_a_hung_claimer_is_cut_off_after_its_hold_and_its_rows_come_back(db_settings: Settings) -> None:
    import time

    from automate_core.outbox.store import HeldClaimStore

    ids = _emit_many(db_settings, 2)
    hung, other = HeldClaimStore(1.0, settings=db_settings), HeldClaimStore(settings=db_settings)
    try:
        held = hung.claim(10)
        assert held is not None and other.claim(10) is None  # held: nobody else gets them
        time.sleep(1.5)  # longer than the hold: Postgres ends the session, rolling the claim back
        retaken = assert_eventually(lambda: other.claim(10), timeout=10)
        assert [i.id for i in retaken.items] == ids
        retaken.release()
        with pytest.raises(psycopg.Error):  # the hung relay learns it when it tries to settle
            held.settle([i.id for i in held.items])
        assert sorted(r[0] for r in outbox_rows(db_settings)) == sorted(ids)  # nothing was deleted
    finally:
        hung.close()
        other.close()
