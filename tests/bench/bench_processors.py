"""Processor benchmark on the local stack (`automate up` first): `automate processors --engine E` as a
process of its own, for each engine on topics of its own; 100 automations over 20 event types (exact
and glob triggers, JSONLogic rules).

1. throughput: a backlog of N events on automate.events (written straight to Kafka, as the relay or
   Debezium would), consumed until every one is routed: events/s and requests/s;
2. latency at a steady rate (default 1,000 events/s), the worker in its own process: from the event's
   produce to its first request being produced (the request's Kafka timestamp) and to it being read by a
   consumer of the workflow topics (this one reads 600 partitions), p50/p95/p99.

    .venv/bin/python tests/bench/bench_processors.py [--events 100000] [--rate 1000] [--seconds 15]
        [--engine confluent] [--engine faust]   (default: both, side by side)
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import psycopg
from bench_common import emit_report, fresh_db
from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

from automate.bench import percentiles
from automate.config import Settings, get_settings
from automate.contracts import canonical_json
from automate.demo.peers import free_port
from automate.records import Records
from automate.runtime.actions import registry
from automate.runtime.workflows import validate
from automate.runtime.workflows.store import apply
from automate.topics import core_topics, ensure_topics

TYPES = [f"{noun}.{verb}" for noun in ("order", "payment", "user", "invoice", "shipment")
         for verb in ("created", "updated", "deleted", "failed")]  # 20 event types


def automations(s: Settings) -> None:
    """100 automations: per type four exact triggers with rules, and 20 glob ones (`order.*`, `*.failed`)."""
    defs: list[dict[str, Any]] = []
    for t, event_type in enumerate(TYPES):
        for k in range(4):
            rule = [{">=": [{"var": "amount"}, 50]},
                    {"and": [{"==": [{"var": "status"}, "active"]}, {"<": [{"var": "amount"}, 80]}]},
                    {"in": [{"var": "country"}, ["FR", "DE", "NL"]]},
                    {"some": [{"var": "items"}, {">": [{"var": "qty"}, 3]}]}][k]
            defs.append({"slug": f"a{t:02d}-{k}", "trigger": {"event": event_type, "rule": rule}})
    for noun in ("order", "payment", "user", "invoice", "shipment"):
        defs.append({"slug": f"g-{noun}", "trigger": {"event": f"{noun}.*",
                                                       "rule": {">": [{"var": "amount"}, 90]}}})
    for verb in ("created", "updated", "deleted", "failed"):
        defs.append({"slug": f"g-{verb}", "trigger": {"event": f"*.{verb}",
                                                       "rule": {"==": [{"var": "country"}, "US"]}}})
    while len(defs) < 100:
        defs.append({"slug": f"x-{len(defs)}", "trigger": {"event": f"never.{len(defs)}"}})
    with psycopg.connect(s.dsn) as conn:
        for d in defs:
            spec = validate({**d, "name": d["slug"], "steps": [{"id": "s", "action": "core.noop"}]},
                            registry.names())
            apply(conn, spec, s)


def event(records: Records, tenant: str, rng: random.Random) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    ident = str(uuid.uuid4())
    payload = {"amount": rng.randint(0, 100), "status": rng.choice(["active", "closed"]),
               "country": rng.choice(["FR", "US", "DE", "JP"]),
               "items": [{"sku": f"S{i}", "qty": rng.randint(1, 5)} for i in range(rng.randint(0, 3))]}
    value = records.encode("GenericEvent", {"payload": canonical_json(payload)})
    headers = [("ce_specversion", b"1.0"), ("ce_source", b"/bench"), ("ce_id", ident.encode()),
               ("ce_type", rng.choice(TYPES).encode()), ("ce_tenant", tenant.encode())]
    return ident, value, headers


def spawn(s: Settings, engine: str, metrics_port: int = 0) -> subprocess.Popen[bytes]:
    """`automate processors --engine ENGINE` as its own process, as deployed (consumer group: the default)."""
    env = {**os.environ, "AUTOMATE_DATABASE_URL": s.dsn, "AUTOMATE_TOPIC_PREFIX": s.topic_prefix}
    return subprocess.Popen([sys.executable, "-m", "automate.cli", "processors", "--engine", engine,
                             "--metrics-port", str(metrics_port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def counted(port: int) -> dict[str, float]:
    """The worker's events (all outcomes), matched events and requests, from its metrics."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return {"events": 0, "matched": 0, "requests": 0}
    found = {"events": 0.0, "matched": 0.0, "requests": 0.0}
    for family in text_string_to_metric_families(text):
        for x in family.samples:
            if x.name == "automate_processor_events_total":
                found["events"] += x.value
                if x.labels.get("outcome") == "matched":
                    found["matched"] += x.value
            elif x.name == "automate_processor_requests_total":
                found["requests"] += x.value
    return found


def _alive(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        raise SystemExit(f"the processors exited ({worker.returncode}) before the backlog was routed")


def throughput(s: Settings, records: Records, n: int, engine: str) -> dict[str, Any]:
    rng = random.Random(7)
    producer = Producer({"bootstrap.servers": s.bootstrap_servers, "linger.ms": 20,
                         "partitioner": "murmur2_random", "queue.buffering.max.messages": 1_000_000})
    for _ in range(n):
        ident, value, headers = event(records, s.tenant, rng)
        while True:
            try:
                producer.produce(s.topic("events"), value, ident.encode(), headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    port = free_port()
    worker = spawn(s, engine, port)
    while (first := counted(port)["events"]) == 0:  # (read every 20 ms: the first batch counts as a start)
        _alive(worker)
        time.sleep(0.02)
    began = time.perf_counter()
    while (now := counted(port))["events"] < n:
        _alive(worker)
        time.sleep(0.02)
    elapsed = time.perf_counter() - began
    worker.terminate()
    worker.wait(60)
    done = n - first
    return {"events": n, "events_per_s": round(done / elapsed), "requests": round(now["requests"]),
            "requests_per_s": round(now["requests"] * done / n / elapsed),
            "matched": round(now["matched"]), "seconds": round(elapsed, 2)}


def latency(s: Settings, records: Records, rate: int, seconds: float, engine: str) -> dict[str, Any]:
    """The worker runs as its own process (`automate processors --engine ENGINE`), as deployed."""
    worker = spawn(s, engine)
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}  # when this process read the first request of the event
    produced: dict[str, float] = {}  # the request's CreateTime: when the processor produced it
    consumer = Consumer({"bootstrap.servers": s.bootstrap_servers, "group.id": f"bench-{uuid.uuid4().hex}",
                         "fetch.wait.max.ms": 5, "log_level": 3})
    topics = consumer.list_topics(timeout=30).topics
    consumer.assign([TopicPartition(name, p, OFFSET_END) for name, meta in topics.items()
                     if name.startswith(s.topic("workflow.")) for p in meta.partitions])
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for msg in consumer.consume(1000, 0.05):
                if msg.error():
                    continue
                now = time.time()
                event_id = records.decode(msg.value())[1]["event_id"]
                arrived.setdefault(event_id, now)
                produced.setdefault(event_id, msg.timestamp()[1] / 1000)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    producer = Producer({"bootstrap.servers": s.bootstrap_servers, "linger.ms": 0,
                         "partitioner": "murmur2_random"})
    rng = random.Random(11)
    while not arrived:  # warm-up: until the worker has joined and answers
        ident, value, headers = event(records, s.tenant, rng)
        producer.produce(s.topic("events"), value, ident.encode(), headers=headers)
        producer.flush(10)
        time.sleep(0.2)
    time.sleep(1)
    total = int(rate * seconds)
    began = time.perf_counter()
    for i in range(total):
        due = began + i / rate
        while (now := time.perf_counter()) < due:
            time.sleep(min(0.001, due - now))
        ident, value, headers = event(records, s.tenant, rng)
        sent[ident] = time.time()
        producer.produce(s.topic("events"), value, ident.encode(), headers=headers)
        producer.poll(0)
    producer.flush(30)
    time.sleep(3)
    stop.set()
    reader.join(10)
    consumer.close()
    worker.terminate()
    worker.wait(30)

    def summary(ends: dict[str, float]) -> dict[str, float]:
        return percentiles([(ends[e] - sent[e]) * 1000 for e in sent if e in ends])

    return {"rate": rate, "events": total, "matched_events": sum(1 for e in sent if e in arrived),
            "event_to_request_produced_ms": summary(produced),
            "event_to_request_consumed_ms": summary(arrived)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--engine", action="append", choices=["confluent", "faust"],
                        help="the engine(s) to measure, each on topics of its own (default: both, one "
                             "after the other)")
    parser.add_argument("--report", help="also write the results to this JSON file")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for engine in args.engine or ["confluent", "faust"]:
        s = fresh_db(get_settings(), "automate_bench_processors", publisher="relay",
                     topic_prefix=f"benchpr{uuid.uuid4().hex[:6]}")
        ensure_topics(s, core_topics(s))
        automations(s)
        records = Records.load(s)
        results[engine] = {"throughput": throughput(s, records, args.events, engine) if args.events else None,
                           "latency": latency(s, records, args.rate, args.seconds, engine)}
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": s.bootstrap_servers})
        mine = [t for t in admin.list_topics(timeout=30).topics if t.startswith(s.topic_prefix + ".")]
        for future in admin.delete_topics(mine).values():
            future.result(60)
    emit_report(results, args.report)


if __name__ == "__main__":
    main()
