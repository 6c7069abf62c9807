"""Outbox benchmark, all measured side by side in one run on the local stack (`automate up` first):

1. emit_event vs a plain psycopg INSERT of the same row: one event per transaction, and 100 per
   transaction; for the relay publisher (INSERT + NOTIFY) and the Debezium one (INSERT + DELETE).
2. The relay: events/s from a backlog of N rows to Kafka (acknowledged).
3. Debezium CDC: events/s for the same backlog (committed while the connector is paused, then
   resumed), and the commit-to-Kafka lag at a steady 100 events/s.

    .venv/bin/python tests/bench/bench_outbox.py [--events 100000] [--report FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

import psycopg
from bench_common import emit_report, fresh_db

from automate.config import Settings, get_settings
from automate.db import migrate, set_publisher
from automate.events import emit_event
from automate.events.emitter import Emitter
from automate.registry import register_contracts
from automate.stack.cdc import ensure_outbox_connector
from automate.topics import ensure_topics
from automate_core.outbox.relay import Relay

ORDER = {"order_id": "ORD-123", "amount": 99.99, "customer_email": "john@example.com"}
PLAIN_INSERT = (
    "INSERT INTO automate_outbox (id, tenant, aggregatetype, aggregateid, type, payload, created_at)"
    " VALUES (%(id)s::uuid, %(tenant)s, %(topic)s, %(key)s, %(type)s, %(payload)s, %(created_at)s)"
)


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds else float("inf")


def bench_emit(settings: Settings, n: int, per_txn: int) -> dict[str, float]:
    """events/s for emit_event and for the plain INSERT, interleaved in rounds to share the noise."""
    emitter = Emitter(settings)
    contract, typed = emitter.contract_for("order.created")
    with psycopg.connect(settings.dsn) as conn:
        with conn.cursor() as cur:
            sid = emitter.schema_id(cur, contract)
        conn.commit()
        emit_times: list[float] = []
        plain_times: list[float] = []
        rounds = 5
        per_round = n // rounds
        for _ in range(rounds):
            began = time.perf_counter()
            for i in range(per_round):
                emit_event("order.created", ORDER, connection=conn, settings=settings)
                if (i + 1) % per_txn == 0:
                    conn.commit()
            conn.commit()
            emit_times.append(time.perf_counter() - began)
            rows = [emitter.build("order.created", ORDER, sid, contract, typed, dedupe_key=None,
                                  tenant=None, key=None).params() for _ in range(per_round)]
            began = time.perf_counter()
            with conn.cursor() as cur:
                for i, params in enumerate(rows):
                    cur.execute(PLAIN_INSERT, params)
                    if (i + 1) % per_txn == 0:
                        conn.commit()
            conn.commit()
            plain_times.append(time.perf_counter() - began)
        conn.execute("TRUNCATE automate_outbox")
        conn.commit()
    emit_rate = rate(per_round, statistics.median(emit_times))
    plain_rate = rate(per_round, statistics.median(plain_times))
    return {"emit_per_s": round(emit_rate), "plain_insert_per_s": round(plain_rate),
            "overhead_pct": round((plain_rate / emit_rate - 1) * 100, 1)}


def fill_backlog(settings: Settings, n: int, topic: str, *, cdc: bool = False) -> float:
    """Commit n events in transactions of 1,000; returns the wall time of the last commit."""
    with psycopg.connect(settings.dsn) as conn:
        for start in range(0, n, 1000):
            for i in range(start, min(n, start + 1000)):
                emit_event("user.signed_up", {"n": i}, key=f"k{i % 997}", connection=conn, settings=settings)
            conn.commit()
        if not cdc:
            return time.monotonic()
        conn.execute("UPDATE automate_outbox SET aggregatetype = %s", (topic,))
        conn.commit()
    return time.monotonic()


def count_topic(settings: Settings, topic: str, expect: int, timeout: float) -> tuple[int, float]:
    """Consume until ``expect`` records arrived; returns (count, monotonic time of the last one)."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    count, last = 0, time.monotonic()
    deadline = time.monotonic() + timeout
    try:
        while count < expect and time.monotonic() < deadline:
            got = [m for m in consumer.consume(10000, 0.5) if not m.error()]
            if got:
                count += len(got)
                last = time.monotonic()
    finally:
        consumer.close()
    return count, last


def bench_relay(settings: Settings, n: int) -> dict[str, float]:
    ensure_topics(settings, [settings.topic("events")], partitions=6)
    fill_backlog(settings, n, settings.topic("events"))
    with Relay(settings, batch_size=5000) as relay:
        began = time.monotonic()
        published = relay.drain(timeout=600)
        seconds = time.monotonic() - began
    return {"events": published, "seconds": round(seconds, 2),
            "events_per_s": round(rate(published, seconds))}


def _cdc_rows(settings: Settings, n: int, topic: str) -> float:
    """Commit n events for the CDC path (trigger deletes each row) in transactions of 1,000."""
    emitter = Emitter(settings)
    contract, typed = emitter.contract_for("user.signed_up")
    began = time.monotonic()
    with psycopg.connect(settings.dsn) as conn, conn.cursor() as cur:
        sid = emitter.schema_id(cur, contract)
        for start in range(0, n, 1000):
            for i in range(start, min(n, start + 1000)):
                row = emitter.build("user.signed_up", {"n": i}, sid, contract, typed, dedupe_key=None,
                                    tenant=None, key=f"k{i % 997}", topic=topic)
                emitter.write(cur, row)
            conn.commit()
    return time.monotonic() - began


def bench_cdc(settings: Settings, n: int) -> dict[str, float]:
    """Debezium at a backlog: the connector paused while n events are committed, then resumed; events/s
    from the resume to the last record on Kafka."""
    from automate.stack.base import http_json
    from automate.stack.cdc import outbox_names

    topic = f"{settings.topic_prefix}.bench.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [topic], partitions=6)
    base = f"{settings.connect_base_url}/connectors/{outbox_names(settings).connector}"
    http_json("PUT", f"{base}/pause")
    try:
        write_s = _cdc_rows(settings, n, topic)
    finally:
        http_json("PUT", f"{base}/resume")
    resumed = time.monotonic()
    count, last = count_topic(settings, topic, n, timeout=900)
    return {"events": count, "write_s": round(write_s, 2), "events_per_s": round(rate(count, last - resumed))}


def bench_cdc_lag(settings: Settings, n: int = 500, per_s: float = 100.0) -> dict[str, float]:
    """Debezium lag at a steady rate: commit one event at a time, time until each is on Kafka."""
    from confluent_kafka import Consumer

    topic = f"{settings.topic_prefix}.lag.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings, [topic], partitions=6)
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    consumer.poll(1.0)  # join the group before the clock starts
    emitter = Emitter(settings)
    contract, typed = emitter.contract_for("user.signed_up")
    committed_at: dict[bytes, float] = {}
    arrived_at: dict[bytes, float] = {}

    def drain(wait: float) -> None:
        for m in consumer.consume(1000, wait):
            if not m.error():
                for k, v in m.headers() or []:
                    if k == "ce_id":
                        arrived_at.setdefault(bytes(v), time.monotonic())

    with psycopg.connect(settings.dsn) as conn, conn.cursor() as cur:
        sid = emitter.schema_id(cur, contract)
        for i in range(n):
            row = emitter.build("user.signed_up", {"n": i}, sid, contract, typed, dedupe_key=None,
                                tenant=None, key=None, topic=topic)
            emitter.write(cur, row)
            conn.commit()
            committed_at[row.id.encode()] = time.monotonic()
            drain(1.0 / per_s)
    deadline = time.monotonic() + 60
    while len(arrived_at) < n and time.monotonic() < deadline:
        drain(0.2)
    consumer.close()
    lags = sorted((arrived_at[k] - t) * 1000 for k, t in committed_at.items() if k in arrived_at)
    return {"events": len(lags), "rate_per_s": per_s, "p50_ms": round(lags[len(lags) // 2], 1),
            "p99_ms": round(lags[int(len(lags) * 0.99) - 1], 1), "max_ms": round(lags[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000, help="backlog size for relay and CDC")
    parser.add_argument("--emits", type=int, default=5_000, help="events per emit_event measurement")
    parser.add_argument("--report", help="write the JSON report here")
    parser.add_argument("--only", choices=["emit", "relay", "cdc"], action="append",
                        help="run only these parts (repeatable); default: all")
    args = parser.parse_args()
    parts = set(args.only or ["emit", "relay", "cdc"])
    base = get_settings()
    report: dict[str, Any] = {"machine": {"cpus": __import__("os").cpu_count()}}
    relay_db = fresh_db(base, "automate_bench_relay", publisher="relay",
                        topic_prefix=f"bench{uuid.uuid4().hex[:6]}")
    cdc_db_settings = Settings(**{**base.model_dump(), "publisher": "debezium"})
    if parts & {"emit", "cdc"}:
        with psycopg.connect(cdc_db_settings.dsn) as conn:
            migrate(conn)
            set_publisher(conn, "debezium")
            register_contracts(cdc_db_settings, conn)
        ensure_outbox_connector(cdc_db_settings)
    if "emit" in parts:
        report["emit_relay_mode"] = {
            "per_txn_1": bench_emit(relay_db, args.emits, 1),
            "per_txn_100": bench_emit(relay_db, args.emits * 4, 100),
        }
        report["emit_debezium_mode"] = {
            "per_txn_1": bench_emit(cdc_db_settings, args.emits, 1),
            "per_txn_100": bench_emit(cdc_db_settings, args.emits * 4, 100),
        }
    if "relay" in parts:
        report["relay_backlog"] = bench_relay(relay_db, args.events)
    if "cdc" in parts:
        report["cdc_backlog"] = bench_cdc(cdc_db_settings, args.events)
        report["cdc_lag"] = bench_cdc_lag(cdc_db_settings)
    emit_report(report, args.report)


if __name__ == "__main__":
    main()
