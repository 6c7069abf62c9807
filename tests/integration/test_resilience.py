"""Kafka stopped while events are emitted: emit_event still succeeds (the outbox is the buffer), and the
relay drains the backlog once the broker is back."""

from __future__ import annotations

import threading

import psycopg
import pytest

from automate.config import Settings
from automate.events import emit_event
from automate.stack import Stack
from automate_core.outbox.relay import Relay
from tests.support import assert_eventually, consume, header

pytestmark = pytest.mark.integration


def test_kafka_down_then_back_drains_the_backlog(stack: Settings, db_settings: Settings) -> None:
    services = Stack(stack)
    relay = Relay(db_settings, batch_size=100, lease_seconds=10, poll_interval=0.2,
                  retry_backoff=lambda attempts: 0.5,
                  producer_config={"message.timeout.ms": 2000, "log_level": 0})
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,))
    services.down(["kafka"])
    try:
        ids = [emit_event("user.signed_up", {"n": i}, settings=db_settings) for i in range(50)]
        worker.start()

        def retried() -> bool:
            with psycopg.connect(db_settings.dsn) as conn:
                row = conn.execute("SELECT count(*) FROM automate_outbox WHERE last_error IS NOT NULL"
                                   ).fetchone()
            return row is not None and row[0] > 0

        assert_eventually(retried, timeout=60, interval=0.5)  # deliveries failed and were rescheduled
    finally:
        services.up(["kafka"])
    try:
        def drained() -> bool:
            with psycopg.connect(db_settings.dsn) as conn:
                return conn.execute("SELECT count(*) FROM automate_outbox").fetchone() == (0,)

        assert_eventually(drained, timeout=120, interval=0.5)
    finally:
        stop.set()
        worker.join(30)
    msgs = consume(db_settings.bootstrap_servers, db_settings.topic("events"),
                   lambda m: {header(x, "ce_id") for x in m} >= {i.encode() for i in ids}, timeout=60)
    assert {header(m, "ce_id") for m in msgs} == {i.encode() for i in ids}
    assert relay.stats.retried > 0
