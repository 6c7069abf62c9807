"""The processors on the real stack: events emitted through the outbox and the relay, matched by a
ProcessorWorker, requests read back from the workflow topics (and run by the runtime where it matters)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Producer
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from automate.config import Settings
from automate.contracts import split_wire
from automate.events import emit_event
from automate.ids import execution_id
from automate.processors import ProcessorWorker
from automate.records import Records
from automate.supervise import settings_env
from automate_core.outbox.relay import Relay
from tests.integration.peers import free_port
from tests.integration.runtime_support import Workers, apply_workflow
from tests.support import assert_eventually, consume

pytestmark = pytest.mark.timeout(240)


def workflow(slug: str, trigger: Any, *, tenant: str | None = None, steps: int = 1) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "slug": slug, "name": slug,
        "steps": [{"id": f"s{i}", "action": "core.noop", **({"needs": [f"s{i - 1}"]} if i else {})}
                  for i in range(steps)],
    }
    definition["triggers" if isinstance(trigger, list) else "trigger"] = trigger
    if tenant is not None:
        definition["tenant"] = tenant
    return definition


ENGINES = ["confluent", "faust"]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each test of the suite runs against both engines: the confluent-kafka loop and the Faust agent."""
    return str(request.param)


def _env(s: Settings) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AUTOMATE_")}, **settings_env(s)}


def _spawn_processor(s: Settings, engine: str, *args: str) -> subprocess.Popen[bytes]:
    """``automate processors --engine ENGINE`` as a process of its own."""
    return subprocess.Popen([sys.executable, "-m", "automate.cli", "processors", "--engine", engine, *args],
                            env=_env(s), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 30 s (never left running in the group)."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class Running:
    """The processors of one engine and a relay: the confluent-kafka worker in a thread of this process, the
    Faust engine as the process `automate processors --engine faust` (a Faust worker owns its process).
    What they did is read from their metrics, the same figures for both."""

    def __init__(self, settings: Settings, engine: str = "confluent", *, group: str | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.worker: ProcessorWorker | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._group = group
        self._relay_stop = threading.Event()
        self.error: BaseException | None = None
        self._threads = [threading.Thread(target=self._guard(self._relay), daemon=True)]
        if engine == "confluent":
            self.worker = ProcessorWorker(settings, group=group, batch=500)
            self._threads.append(threading.Thread(target=self._guard(self.worker.run), daemon=True))

    def _guard(self, fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                self.error = exc

        return run

    def _relay(self) -> None:
        with Relay(self.settings, batch_size=500) as relay:
            relay.run(self._relay_stop)

    def figures(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of the engine's metrics, by (name, sorted labels)."""
        if self.worker is not None:
            text = generate_latest(self.worker.metrics.registry).decode()
        else:
            try:
                text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
            except httpx.TransportError:
                return {}
        return {(x.name, tuple(sorted(x.labels.items()))): x.value
                for family in text_string_to_metric_families(text) for x in family.samples}

    def figure(self, name: str, **labels: str) -> float:
        return self.figures().get((name, tuple(sorted(labels.items()))), 0.0)

    def count(self, name: str) -> float:
        """The sum of a counter over all its labels."""
        return sum(v for (n, _labels), v in self.figures().items() if n == name)

    @property
    def events(self) -> float:
        return self.count("automate_processor_events_total")

    @property
    def reloads(self) -> float:
        return self.figure("automate_processor_config_reloads_total")

    def __enter__(self) -> Running:
        if self.engine != "confluent":
            self.port = free_port()
            self.proc = _spawn_processor(self.settings, self.engine, "--metrics-port", str(self.port),
                                         *(["--group", self._group] if self._group else []))
        for thread in self._threads:
            thread.start()
        assert_eventually(lambda: self.reloads >= 1, timeout=60)  # the index is read: events are routed
        return self

    def __exit__(self, *exc: object) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.proc is not None:
            _stop(self.proc)
        self._relay_stop.set()
        for thread in self._threads:
            thread.join(30)
        if self.error is not None:
            raise self.error


@contextmanager
def running(settings: Settings, engine: str = "confluent", **kwargs: Any) -> Iterator[Running]:
    with Running(settings, engine, **kwargs) as r:
        yield r


def requests(settings: Settings, slug: str, count: int, *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The ExecutionRequests on workflow ``slug``'s topic once there are at least ``count``."""
    records = Records.load(settings)
    msgs = consume(settings.bootstrap_servers, settings.topic(f"workflow.{slug}"),
                   lambda m: len(m) >= count, timeout=timeout)
    return [records.decode(m.value())[1] for m in msgs]


def topic_count(settings: Settings, slug: str, *, settle: float = 3.0) -> int:
    """How many records workflow ``slug``'s topic holds (read for ``settle`` seconds)."""
    seen: list[Any] = []
    with suppress(AssertionError):
        consume(settings.bootstrap_servers, settings.topic(f"workflow.{slug}"),
                lambda m: seen.__setitem__(slice(None), m) or False, timeout=settle)
    return len(seen)


def test_fan_out_to_several_workflows_with_rules_and_globs(db_settings: Settings, engine: str) -> None:
    s = db_settings
    big = apply_workflow(s, workflow("big-orders", {"event": "order.created",
                                                    "rule": {">=": [{"var": "amount"}, 100]}}))
    every = apply_workflow(s, workflow("all-orders", {"event": "order.*"}))
    created = apply_workflow(s, workflow("anything-created", [
        {"event": "*.created", "rule": {"==": [{"var": "$event.type"}, "user.created"]}},
        {"event": "order.created", "rule": {"==": [{"var": "priority"}, "high"]}},
    ]))
    payments = apply_workflow(s, workflow("payments", {"event": "payment.received"}))
    order = {"order_id": "ORD-1", "customer_email": "a@example.com"}
    with running(s, engine) as r:
        high = emit_event("order.created", {**order, "amount": 150.0, "priority": "high"}, settings=s)
        small = emit_event("order.created", {**order, "amount": 5.0}, settings=s)
        user = emit_event("user.created", {"user_id": "U1"}, settings=s)
        paid = emit_event("payment.received", {"payment_id": "P-1", "order_id": "ORD-1"},
                          settings=s)
        shipped = emit_event("order.shipped", {"order_id": "ORD-1"}, settings=s)

        assert {x["event_id"] for x in requests(s, "big-orders", 1)} == {high}
        assert {x["event_id"] for x in requests(s, "all-orders", 3)} == {high, small, shipped}
        assert {x["event_id"] for x in requests(s, "anything-created", 2)} == {high, user}
        got = requests(s, "payments", 1)
        assert [x["event_id"] for x in got] == [paid]
        assert got[0]["execution_id"] == execution_id(paid, payments)
        assert got[0]["workflow_version"] == 1 and got[0]["event_type"] == "payment.received"
        assert_eventually(lambda: r.events == 5)
        assert r.count("automate_processor_requests_total") == 7
        assert r.figure("automate_processor_events_total", outcome="matched") == 5
        # Each automation's request carries its own deterministic execution id.
        ids = {x["execution_id"] for x in requests(s, "all-orders", 3)}
        assert ids == {execution_id(e, every) for e in (high, small, shipped)}
        assert {x["execution_id"] for x in requests(s, "big-orders", 1)} == {execution_id(high, big)}
        assert execution_id(user, created) in {x["execution_id"] for x in requests(s, "anything-created", 2)}
        assert r.figure("automate_processor_requests_total", workflow="all-orders") == 3

    with Workers(s):  # the runtime turns the requests into executions
        def finished() -> bool:
            with psycopg.connect(s.dsn) as conn:
                row = conn.execute("SELECT count(*), count(*) FILTER (WHERE status = 'SUCCESS') "
                                   "FROM execution").fetchone()
            assert row is not None and row == (7, 7), row
            return True
        assert_eventually(finished, timeout=60)


def test_rule_hot_reload_and_enable_disable_without_restart(db_settings: Settings, engine: str) -> None:
    s = db_settings
    apply_workflow(s, workflow("vip", {"event": "user.signed_up", "rule": {"==": [{"var": "plan"}, "pro"]}}))
    with running(s, engine) as r:
        first = emit_event("user.signed_up", {"plan": "pro"}, settings=s)
        assert [x["event_id"] for x in requests(s, "vip", 1)] == [first]
        reloads = r.reloads

        applied_at = time.monotonic()
        apply_workflow(s, workflow("vip", {"event": "user.signed_up",
                                           "rule": {"==": [{"var": "plan"}, "team"]}}))
        assert_eventually(lambda: r.reloads > reloads, timeout=2.0, interval=0.01)
        reload_s = time.monotonic() - applied_at
        assert reload_s < 2.0
        ignored = emit_event("user.signed_up", {"plan": "pro"}, settings=s)
        team = emit_event("user.signed_up", {"plan": "team"}, settings=s)
        got = requests(s, "vip", 2)
        assert sorted((x["event_id"], x["workflow_version"]) for x in got) == sorted([(first, 1), (team, 2)])
        assert_eventually(lambda: r.events == 3)  # `ignored` was seen, not matched
        assert ignored not in {x["event_id"] for x in got}

        reloads = r.reloads
        result = subprocess.run([sys.executable, "-m", "automate.cli", "workflows", "disable", "vip"],
                                env=_env(s), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert_eventually(lambda: r.reloads > reloads, timeout=2.0, interval=0.01)
        emit_event("user.signed_up", {"plan": "team"}, settings=s)
        assert_eventually(lambda: r.events == 4)
        assert topic_count(s, "vip") == 2

        reloads = r.reloads
        result = subprocess.run([sys.executable, "-m", "automate.cli", "workflows", "enable", "vip"],
                                env=_env(s), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert_eventually(lambda: r.reloads > reloads, timeout=2.0, interval=0.01)
        again = emit_event("user.signed_up", {"plan": "team"}, settings=s)
        assert again in {x["event_id"] for x in requests(s, "vip", 3)}


def test_a_new_workflow_gets_its_topic_and_events_at_once(db_settings: Settings, engine: str) -> None:
    s = db_settings
    with running(s, engine) as r:
        apply_workflow(s, workflow("late", {"event": "order.*"}))
        assert_eventually(lambda: r.figure("automate_processor_automations") == 1, timeout=2.0, interval=0.01)
        event = emit_event("order.paid", {"order_id": "X"}, settings=s)
        assert [x["event_id"] for x in requests(s, "late", 1)] == [event]


def test_tenant_isolation_same_event_type(db_settings: Settings, engine: str) -> None:
    """Two tenants' automations on one event type: each tenant's events start only its own. (One slug can
    no longer belong to two tenants: tests/integration/test_tenants.py.)"""
    s = Settings(**{**db_settings.model_dump(), "workflow_tenant_from_file": True})
    acme = apply_workflow(s, workflow("welcome", {"event": "user.signed_up"}, tenant="acme"))
    globex = apply_workflow(s, workflow("greet", {"event": "user.signed_up"}, tenant="globex"))
    with running(s, engine) as r:
        a = emit_event("user.signed_up", {"user": "a"}, tenant="acme", settings=s)
        b = emit_event("user.signed_up", {"user": "b"}, tenant="globex", settings=s)
        emit_event("user.signed_up", {"user": "c"}, tenant="initech", settings=s)  # no automation
        got = requests(s, "welcome", 1) + requests(s, "greet", 1)
        assert_eventually(lambda: r.events == 3)
        assert sorted((x["tenant"], x["automation_id"], x["event_id"]) for x in got) == sorted(
            [("acme", acme, a), ("globex", globex, b)])
        assert topic_count(s, "welcome") == 1 and topic_count(s, "greet") == 1


def test_poison_records_go_to_the_dlq_and_the_stream_flows(db_settings: Settings, engine: str) -> None:
    s = db_settings
    apply_workflow(s, workflow("orders", {"event": "order.*"}))
    records = Records.load(s)
    events = s.topic("events")
    good = [("ce_id", str(uuid.uuid4())), ("ce_type", "order.created"), ("ce_tenant", s.tenant)]
    generic = records.encode("GenericEvent", {"payload": "{}"})
    poison = [
        (b"not avro at all", good, "event.undecodable"),
        (b"\x00\x00\x01\x86\x9f" + b"x", good, "event.schema_unknown"),  # schema id 99999
        (generic, good[:1], "event.headers"),
        (generic[:5] + b"\xff\xff\xff", good, "event.undecodable"),  # a truncated body
        (generic, [("ce_id", "not-a-uuid"), *good[1:]], "event.headers"),
    ]
    producer = Producer({"bootstrap.servers": s.bootstrap_servers})
    for value, headers, _ in poison:  # one key: one partition, so the letters keep this order
        producer.produce(events, value, b"k", headers=[(k, v.encode()) for k, v in headers])
    producer.flush(10)
    with running(s, engine) as r:
        after = emit_event("order.created", {"order_id": "A", "amount": 1.0, "customer_email": "x@y"},
                           settings=s)
        assert [x["event_id"] for x in requests(s, "orders", 1)] == [after]
        letters = consume(s.bootstrap_servers, s.topic("dlq"), lambda m: len(m) >= len(poison))
        decoded = [records.decode(m.value())[1] for m in letters]
        assert [d["error_code"] for d in decoded] == [code for _, _, code in poison]
        assert [d["original"] for d in decoded] == [value for value, _, _ in poison]
        assert all(d["kind"] == "poison" and d["source_topic"] == events for d in decoded)
        assert "ce_type" in decoded[2]["error_message"] and "99999" in decoded[1]["error_message"]
        assert_eventually(lambda: r.figure("automate_processor_events_total", outcome="poison")
                          == len(poison))


def test_an_event_of_a_newer_contract_is_read_through_the_registry(db_settings: Settings,
                                                                   engine: str) -> None:
    """A producer may register a schema this process never cached: its id is looked up in the registry."""
    import json

    import fastavro
    import httpx

    s = db_settings
    apply_workflow(s, workflow("evolved", {"event": "thing.happened",
                                           "rule": {"==": [{"var": "color"}, "blue"]}}))
    schema = {"type": "record", "name": f"Thing{uuid.uuid4().hex[:8]}", "namespace": "test.automate",
              "fields": [{"name": "color", "type": "string"}]}
    subject = f"test.automate.{schema['name']}"
    response = httpx.post(f"{s.registry_url}/subjects/{subject}/versions",
                          json={"schema": json.dumps(schema)}, timeout=10)
    response.raise_for_status()
    schema_id = int(response.json()["id"])
    import io

    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), {"color": "blue"})
    value = b"\x00" + schema_id.to_bytes(4, "big") + buf.getvalue()
    event_id = str(uuid.uuid4())
    producer = Producer({"bootstrap.servers": s.bootstrap_servers})
    producer.produce(s.topic("events"), value, b"k", headers=[
        ("ce_id", event_id.encode()), ("ce_type", b"thing.happened"), ("ce_tenant", s.tenant.encode())])
    producer.flush(10)
    with running(s, engine):
        got = requests(s, "evolved", 1)
    assert got[0]["event_id"] == event_id and got[0]["context"] == '{"color":"blue"}'
    split_wire(value)


def test_killed_worker_redelivers_and_no_execution_is_created_twice(db_settings: Settings,
                                                                    engine: str) -> None:
    s = db_settings
    automation = apply_workflow(s, workflow("ledger", {"event": "order.created"}))
    total = 3000
    ids = []
    with psycopg.connect(s.dsn) as conn:
        for i in range(total):
            ids.append(emit_event("order.created", {"order_id": f"O{i}", "amount": 1.0,
                                                    "customer_email": "x@y"}, connection=conn, settings=s))
        conn.commit()
    with Relay(s, batch_size=1000) as relay:
        assert relay.drain() == total
    victim = _spawn_processor(s, engine)
    try:
        # Kill -9 once the worker is part-way through (some requests out, not all).
        assert_eventually(lambda: topic_count(s, "ledger", settle=0.3) > 0, timeout=60, interval=0.05)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    survivor = _spawn_processor(s, engine)
    records = Records.load(s)
    try:
        # Redelivery may repeat requests: wait for every distinct one, not for a count of records.
        msgs = consume(s.bootstrap_servers, s.topic("workflow.ledger"), lambda m: len(
            {records.decode(x.value())[1]["execution_id"] for x in m}) >= total, timeout=90)
        got = [records.decode(m.value())[1] for m in msgs]
    finally:
        survivor.terminate()
        survivor.wait(30)
    assert {x["execution_id"] for x in got} == {execution_id(e, automation) for e in ids}
    with Workers(s):
        def all_created() -> bool:
            with psycopg.connect(s.dsn) as conn:
                row = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM execution").fetchone()
            assert row == (total, total), row
            return True
        assert_eventually(all_created, timeout=120)
    # Deliberately re-deliver everything (a fresh consumer group reads from the start): the same ids.
    with running(s, engine, group=f"{s.topic_prefix}-again") as r:
        assert_eventually(lambda: r.events == total, timeout=60)
    again = requests(s, "ledger", len(got) + total, timeout=60)
    assert {x["execution_id"] for x in again} == {x["execution_id"] for x in got}
    with Workers(s):
        time.sleep(3)  # give the runtime the chance to create duplicates, which it must not
    with psycopg.connect(s.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM execution").fetchone() == (total,)


def _assignment(admin: Any, s: Settings, group: str) -> list[set[int]]:
    """The partitions of the events topic each member of ``group`` holds (as the group coordinator says;
    [] while it cannot answer: a rebalance moves it, NOT_COORDINATOR)."""
    from confluent_kafka import KafkaException

    try:
        described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    except KafkaException:
        return []
    return [{tp.partition for tp in m.assignment.topic_partitions if tp.topic == s.topic("events")}
            for m in described.members]


def _events_of(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(x.value for family in text_string_to_metric_families(text) for x in family.samples
               if x.name == "automate_processor_events_total")


def test_two_workers_share_the_partitions_after_a_rebalance(db_settings: Settings, engine: str) -> None:
    s = db_settings
    apply_workflow(s, workflow("shared", {"event": "order.created"}))
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": s.bootstrap_servers})
    group = f"{s.topic_prefix}-processors"
    ports = [free_port(), free_port()]
    procs = [_spawn_processor(s, engine, "--metrics-port", str(ports[0]))]
    try:
        assert_eventually(lambda: _assignment(admin, s, group) == [{0, 1, 2}], timeout=60, interval=0.5)
        procs.append(_spawn_processor(s, engine, "--metrics-port", str(ports[1])))

        def shared() -> bool:
            held = _assignment(admin, s, group)
            return len(held) == 2 and all(held) and held[0] | held[1] == {0, 1, 2} and not held[0] & held[1]

        assert_eventually(shared, timeout=60, interval=0.5)
        with psycopg.connect(s.dsn) as conn:
            ids = [emit_event("order.created", {"order_id": f"O{i}", "amount": 1.0, "customer_email": "x@y"},
                              key=f"k{i}", connection=conn, settings=s) for i in range(300)]
            conn.commit()
        with Relay(s, batch_size=300) as relay:
            relay.drain()
        got = requests(s, "shared", 300, timeout=60)
        assert sorted(x["event_id"] for x in got) == sorted(ids)
        assert_eventually(lambda: _events_of(ports[0]) + _events_of(ports[1]) == 300, timeout=30)
        assert _events_of(ports[0]) > 0 and _events_of(ports[1]) > 0
    finally:
        for proc in procs:
            _stop(proc)


def test_request_fragments_encode_what_fastavro_encodes(db_settings: Settings) -> None:
    from automate.contracts import avro_string
    from automate.processors.encoding import RequestEncoder

    records = Records.load(db_settings)
    encoder = RequestEncoder(records)
    assert encoder.fast
    for tenant, slug, version, context, event_type in [
        ("t", "a", 1, "{}", "x.y"),
        ("ténant-ü" * 20, "long-" * 12, 2**31 - 1, '{"k":"' + "v" * 5000 + '"}', "z"),
    ]:
        ident, automation_id, event_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        fields = {"execution_id": ident, "tenant": tenant, "automation_id": automation_id,
                  "workflow_slug": slug, "workflow_version": version, "event_id": event_id,
                  "event_type": event_type, "context": context, "requested_at": 1_800_000_000_000}
        automation = encoder.automation_part(automation_id, slug, version)
        fast = encoder.encode(ident, avro_string(tenant), automation,
                              encoder.event_part(event_id, event_type, context, 1_800_000_000_000))
        assert fast == records.encode("ExecutionRequest", fields)
        decoded = records.decode(fast)[1]
        assert int(decoded.pop("requested_at").timestamp() * 1000) == fields.pop("requested_at")
        assert decoded == fields


def test_the_agent_mounted_in_a_faust_app_of_your_own_routes_events(db_settings: Settings,
                                                                    tmp_path: Path) -> None:
    """examples/faust/my_app.py, run as a Faust app is (`python my_app.py worker`): the processors' agent
    routes the events and the app's own agent sees them too."""
    s = db_settings
    apply_workflow(s, workflow("mounted", {"event": "order.*"}))
    event = emit_event("order.paid", {"order_id": "M-1"}, settings=s)
    with Relay(s) as relay:
        assert relay.drain() == 1
    log = tmp_path / "my_app.log"
    example = Path(__file__).resolve().parents[2] / "examples/faust/my_app.py"
    with open(log, "wb") as out, subprocess.Popen([sys.executable, str(example), "worker", "-l", "info"],
                                                  env=_env(s), stdout=out, stderr=subprocess.STDOUT) as app:
        try:
            assert [x["event_id"] for x in requests(s, "mounted", 1, timeout=90)] == [event]
            assert_eventually(lambda: "my agent saw order.paid (1 so far)" in log.read_text(), timeout=30)
        finally:
            _stop(app)
