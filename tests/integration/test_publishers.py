"""The two publishers, Debezium CDC and the built-in relay, put byte-identical records on Kafka; the relay
survives a kill -9 mid-batch; run_workflow writes an execution and its request in one transaction."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import uuid

import psycopg
import pytest

from automate.config import Settings
from automate.contracts import ContractSet, decode
from automate.events import UnknownWorkflow, run_workflow
from automate.events.emitter import Emitter
from automate_core.outbox.relay import Relay
from tests.integration.runtime_support import apply_workflow
from tests.support import assert_eventually, consume, header

pytestmark = pytest.mark.integration


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize("traceparent", [None, TRACEPARENT], ids=["untraced", "traced"])
def test_cdc_and_relay_records_are_byte_identical(stack: Settings, db_settings: Settings,
                                                  traceparent: str | None) -> None:
    from automate.db import migrate, set_publisher
    from automate.registry import register_contracts
    from automate.stack.cdc import ensure_outbox_connector

    with psycopg.connect(stack.dsn) as conn:  # the database Debezium watches
        migrate(conn)
        set_publisher(conn, "debezium")
        register_contracts(stack, conn)
    assert ensure_outbox_connector(stack) in ("created", "updated", "unchanged")
    cdc = Emitter(stack)
    relay_side = Emitter(db_settings)
    contract, typed = cdc.contract_for("order.created")
    with psycopg.connect(stack.dsn) as conn, conn.cursor() as cur:
        row = cdc.build("order.created", {"order_id": f"ORD-{uuid.uuid4()}", "amount": 120.5,
                                          "customer_email": "a@example.com"},
                        cdc.schema_id(cur, contract), contract, typed,
                        dedupe_key=None, tenant="acme", key=None, topic=stack.topic("events"))
        row = dataclasses.replace(row, traceparent=traceparent)
        cdc.write(cur, row)  # Debezium publishes it (and the trigger deletes the row in the same transaction)
    with psycopg.connect(db_settings.dsn) as conn, conn.cursor() as cur:
        relay_side.write(cur, row)  # the same row, published by the relay to the same topic
    with Relay(db_settings) as relay:
        assert relay.drain() == 1

    def both(messages: list[object]) -> bool:
        return sum(1 for m in messages if header(m, "ce_id") == row.id.encode()) == 2

    msgs = [m for m in consume(stack.bootstrap_servers, stack.topic("events"), both, timeout=90)
            if header(m, "ce_id") == row.id.encode()]
    a, b = msgs
    assert a.key() == b.key() == row.key.encode()
    assert a.value() == b.value() == row.payload
    assert a.headers() == b.headers()
    assert a.partition() == b.partition()
    assert a.timestamp() == b.timestamp()
    assert [k for k, _ in a.headers()] == ["ce_specversion", "ce_source", "ce_id", "ce_type", "ce_tenant",
                                           "traceparent"]
    assert dict(a.headers())["traceparent"] == (traceparent.encode() if traceparent else None)  # NULL: null


def test_relay_killed_mid_batch_loses_nothing(db_settings: Settings) -> None:
    total = 20_000
    with psycopg.connect(db_settings.dsn) as conn:
        emitter = Emitter(db_settings)
        contract, typed = emitter.contract_for("user.signed_up")
        with conn.cursor() as cur:
            sid = emitter.schema_id(cur, contract)
            rows = [emitter.build("user.signed_up", {"n": i}, sid, contract, typed,
                                  dedupe_key=None, tenant=None, key=None) for i in range(total)]
            cur.executemany(
                "INSERT INTO automate_outbox"
                " (id, tenant, aggregatetype, aggregateid, type, payload, created_at)"
                " VALUES (%(id)s, %(tenant)s, %(topic)s, %(key)s, %(type)s, %(payload)s, %(created_at)s)",
                [r.params() for r in rows],
            )
    env = {**os.environ, "AUTOMATE_DATABASE_URL": db_settings.dsn, "AUTOMATE_PUBLISHER": "relay",
           "AUTOMATE_TOPIC_PREFIX": db_settings.topic_prefix}
    victim = subprocess.Popen(
        [sys.executable, "-m", "automate.cli", "relay", "--batch-size", "500", "--lease", "3"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def remaining() -> int:
        with psycopg.connect(db_settings.dsn) as conn:
            row = conn.execute("SELECT count(*) FROM automate_outbox").fetchone()
        assert row is not None
        return int(row[0])

    assert_eventually(lambda: remaining() < total - 1000, timeout=60, interval=0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    left = remaining()
    assert 0 < left < total
    # A second relay: its reaper returns the dead relay's expired claims, then publishes everything.
    with Relay(db_settings, batch_size=1000, lease_seconds=3) as survivor:
        def drained() -> bool:
            survivor.reaper.reap_stale_items()
            survivor.drain()
            return remaining() == 0
        assert_eventually(drained, timeout=60, interval=0.5)
    expected = {r.id.encode() for r in rows}
    msgs = consume(db_settings.bootstrap_servers, db_settings.topic("events"),
                   lambda m: {header(x, "ce_id") for x in m} >= expected, timeout=120)
    ids = [header(m, "ce_id") for m in msgs]
    assert set(ids) == expected  # nothing lost; a duplicate, if any, carries the same event id


def _live_workflow(settings: Settings, slug: str, tenant: str) -> str:
    """A workflow with a live version, applied the way users apply them."""
    trusting = Settings(**{**settings.model_dump(), "workflow_tenant_from_file": True})
    return apply_workflow(trusting, {"slug": slug, "name": slug, "tenant": tenant,
                                     "steps": [{"id": "a", "action": "core.noop"}]})


def test_run_workflow_writes_execution_and_request_in_one_transaction(db_settings: Settings) -> None:
    automation_id = _live_workflow(db_settings, "send-welcome-email", db_settings.tenant)  # + its topic
    payload = {"user_id": "USR-123", "email": "newuser@example.com", "name": "John Doe"}
    execution_id = run_workflow(workflow_slug="send-welcome-email", payload=payload, settings=db_settings)
    with psycopg.connect(db_settings.dsn) as conn:
        execution = conn.execute("SELECT automation_id::text, status, context FROM execution WHERE id = %s",
                                 (execution_id,)).fetchone()
        outbox = conn.execute("SELECT aggregatetype, aggregateid FROM automate_outbox").fetchall()
    assert execution == (automation_id, "PENDING", payload)
    assert outbox == [(db_settings.topic("workflow.send-welcome-email"), execution_id)]
    with Relay(db_settings) as relay:
        relay.drain()
    msgs = consume(db_settings.bootstrap_servers, db_settings.topic("workflow.send-welcome-email"),
                   lambda m: len(m) >= 1)
    request = decode(ContractSet().builtin("ExecutionRequest"), msgs[0].value())
    assert request["execution_id"] == execution_id and request["workflow_version"] == 1
    assert header(msgs[0], "ce_type") == b"automate.execution.requested"


def test_run_workflow_unknown_slug_writes_nothing(db_settings: Settings) -> None:
    _live_workflow(db_settings, "known", "someone-else")
    with pytest.raises(UnknownWorkflow, match="no enabled workflow 'known'"):
        run_workflow("known", {"a": 1}, settings=db_settings)  # exists, but for another tenant
    with pytest.raises(UnknownWorkflow):
        run_workflow("missing", {}, settings=db_settings)
    with psycopg.connect(db_settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM execution").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM automate_outbox").fetchone() == (0,)
