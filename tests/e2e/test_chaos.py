"""The chaos suite: while events flow through every worker (each its own process), kill -9 and restart in
turn every worker, restart the Kafka broker and Postgres, then prove from a ledger that nothing was lost and
nothing duplicated:

* every emitted event produced exactly the executions its rules call for (no more, no fewer);
* every execution reached a terminal state, SUCCESS here;
* the side effect of every idempotent step (an HTTP call with an Idempotency-Key to a ledger server that
  applies each key once, as an idempotent API does) was applied exactly once per step, and no attempt
  ever carried a different key for the same step.

It runs once per publisher. With the relay, the relay is one of the workers killed. With Debezium, the
test's database publishes through a connector of its own in the stack's Connect, the publisher watch runs
instead of the relay and is killed like the other workers, and Connect is restarted too (a standalone
Connect forgets the test's connector: the watch registers it again, and it resumes from its offsets).

The short form (``make test``) runs one round of faults; ``make chaos`` runs the long form ten times in a
row (AUTOMATE_CHAOS_ROUNDS faults rounds per run, AUTOMATE_CHAOS_RATE events/s).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from automate.config import Settings
from automate.db import set_publisher
from automate.db.context import close_pools
from automate.demo.preflight import wait_for_connector
from automate.events import emit_event
from automate.stack import Stack
from automate.stack.cdc import ensure_outbox_connector, remove_outbox_connector
from automate.supervise import WorkerSet
from tests.integration.runtime_support import apply_workflow

ROUNDS = int(os.environ.get("AUTOMATE_CHAOS_ROUNDS", "1"))
RATE = float(os.environ.get("AUTOMATE_CHAOS_RATE", "40"))

pytestmark = [pytest.mark.timeout(600 + 300 * ROUNDS), pytest.mark.chaos]


class Ledger:
    """An idempotent HTTP API: applies each Idempotency-Key once, counts every call."""

    def __init__(self) -> None:
        self.applied: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        ledger = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                key = self.headers.get("Idempotency-Key") or ""
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not raw or len(raw) < length:  # the caller died mid-request: nothing arrived to apply
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.loads(raw)
                with ledger.lock:
                    ledger.calls[key] += 1
                    ledger.applied.setdefault(key, body)
                payload = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # A listen backlog like a real server's (the default, 5, drops the connections of a runtime
            # draining its backlog a thousand executions at a time: they fail as http.connect and wait
            # out their retries, and the suite's wait runs out first).
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/effect"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(params=["relay", "debezium"])
def publishing(request: pytest.FixtureRequest, stack: Settings, db_settings: Settings) -> Iterator[Settings]:
    """The test's database and topics (``db_settings``) publishing through ``request.param``; with Debezium,
    through a connector, slot and publication of its own, streaming before the test emits (an event
    committed before the slot exists is never published). The connector and its slot are removed before
    ``db_settings`` drops the database (a replication slot blocks DROP DATABASE)."""
    if stack.database_url or stack.kafka_bootstrap:
        pytest.skip("the chaos suite restarts Postgres and Kafka: it needs the local stack's own")
    s = Settings(**{**db_settings.model_dump(), "http_allowlist": ("127.0.0.1/32",),
                    "publisher": request.param})
    try:
        if s.publisher == "debezium":
            with psycopg.connect(s.dsn) as conn:
                set_publisher(conn, "debezium")
            ensure_outbox_connector(s)
            wait_for_connector(s, timeout=120)
        yield s
    finally:
        close_pools(s)
        if s.publisher == "debezium":
            Stack(stack).up()  # whatever a failed fault left down (a no-op when all runs)
            remove_outbox_connector(s)


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    found = Ledger()
    yield found
    found.server.shutdown()
    found.server.server_close()


def effect(ledger: Ledger, what: str) -> dict[str, Any]:
    return {"action": "http.request", "input": {
        "method": "POST", "url": ledger.url, "idempotency": True,
        "json": {"what": what, "execution": "{{ execution.id }}", "order": "{{ event.payload.order_id }}"}},
        "retry": {"max_attempts": 20, "backoff": "exponential", "initial": "1s", "max": "10s"}}


class Emitter(threading.Thread):
    """Emits order.created events at ``rate``; a failed emit (Postgres restarting) is retried with the
    same dedupe key, so each event exists once whatever happened to the first attempt."""

    def __init__(self, settings: Settings, rate: float) -> None:
        super().__init__(daemon=True)
        self.settings, self.rate = settings, rate
        self.events: dict[str, float] = {}  # event id -> amount
        self.emitted_at: dict[str, float] = {}  # event id -> when it was committed (time.time())
        self.retries = 0
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        began = time.monotonic()
        while not self.stop.is_set():
            wait = began + i / self.rate - time.monotonic()
            if wait > 0:
                time.sleep(min(0.01, wait))
                continue
            amount = float(i % 100)
            payload = {"order_id": f"ORD-{i}", "amount": amount, "customer_email": "chaos@example.com"}
            while not self.stop.is_set():
                try:
                    event_id = emit_event("order.created", payload, dedupe_key=f"chaos-{i}",
                                          settings=self.settings)
                    self.events[event_id] = amount
                    self.emitted_at[event_id] = time.time()
                    break
                except Exception:
                    self.retries += 1
                    time.sleep(0.5)
            i += 1


def faults(local: Settings, workers: WorkerSet, publisher: str) -> list[tuple[str, Callable[[], None]]]:
    """The faults of one round with ``publisher`` publishing; ``local`` are the settings of the local stack
    (the test's own database lives in its Postgres, its connector in its Connect)."""
    stack = Stack(local)

    def restart(service: str) -> Callable[[], None]:
        def run() -> None:
            stack.down([service])
            time.sleep(1)
            stack.up([service, "kafka", "connect"] if service == "kafka" else [service])
        return run

    if publisher == "relay":
        publishing: list[tuple[str, Callable[[], None]]] = [
            ("kill -9 relay", lambda: workers.restart("relay"))]
    else:
        publishing = [("kill -9 publisher-watch", lambda: workers.restart("publisher-watch")),
                      ("restart connect", restart("connect"))]
    return [
        *publishing,
        ("kill -9 processors", lambda: workers.restart("processors")),
        ("kill -9 runtime", lambda: workers.restart("runtime")),
        ("kill -9 retry-worker", lambda: workers.restart("retry-worker")),
        ("restart kafka", restart("kafka")),
        ("restart postgres", restart("postgres")),
    ]


def started_at(settings: Settings) -> Any:
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row is not None
    return row[0]


def clock(at: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(time.time() if at is None else at))


def spans(times: Iterable[float]) -> str:
    """Moments as the spans they make (a gap over a second begins a new one): "12:00:01-12:00:09 (300)"."""
    found: list[list[float]] = []
    for at in sorted(times):
        if found and at - found[-1][1] <= 1.0:
            found[-1][1:] = [at, found[-1][2] + 1]
        else:
            found.append([at, at, 1])
    return ", ".join(f"{clock(a)}-{clock(b)} ({n:.0f})" for a, b, n in found)


def watch_restarts(log_dir: Path) -> list[str]:
    """What the publisher watch restarted (its log lines saying so), for a failure's message."""
    lines: list[str] = []
    for path in sorted(log_dir.glob("publisher-watch-*.log")):
        text = path.read_text(errors="replace")
        lines += [line.strip() for line in text.splitlines() if "restarted" in line]
    return lines


def test_nothing_lost_nothing_duplicated_under_faults(stack: Settings, publishing: Settings, ledger: Ledger,
                                                       tmp_path: Path) -> None:
    s = publishing
    postgres_started = started_at(s)
    big = apply_workflow(s, {"slug": "chaos-big", "name": "big orders",
                             "trigger": {"event": "order.created", "rule": {">=": [{"var": "amount"}, 50]}},
                             "steps": [{"id": "shape", "action": "core.noop"},
                                       {"id": "charge", "needs": ["shape"], **effect(ledger, "charge")},
                                       {"id": "done", "needs": ["charge"], "action": "core.noop"}]})
    every = apply_workflow(s, {"slug": "chaos-all", "name": "all orders", "trigger": {"event": "order.*"},
                               "steps": [{"id": "notify", **effect(ledger, "notify")}]})
    log: list[str] = []
    workers = WorkerSet(s, tmp_path / "logs")
    emitter = Emitter(s, RATE)
    with workers:
        emitter.start()
        time.sleep(5)
        for round_ in range(ROUNDS):
            for name, fault in faults(stack, workers, s.publisher):
                began = time.time()
                fault()
                log.append(f"{clock(began)} round {round_ + 1}: {name} ({time.time() - began:.0f}s)")
                for _ in range(10):  # let events flow between faults; revive what died meanwhile
                    time.sleep(0.5)
                    log.extend(f"{clock()} revived {w}" for w in workers.revive())
        time.sleep(3)
        emitter.stop.set()
        emitter.join(60)
        expected = {event_id: ({big} if amount >= 50 else set()) | {every}
                    for event_id, amount in emitter.events.items()}
        total = sum(len(v) for v in expected.values())

        def settled() -> list[tuple[str, str, str]]:
            with psycopg.connect(s.dsn) as conn:
                return [(str(r[0]), str(r[1]), r[2]) for r in conn.execute(
                    "SELECT event_id, automation_id, status FROM execution").fetchall()]

        deadline = time.monotonic() + 240
        rows = settled()
        while time.monotonic() < deadline:
            log.extend(f"{clock()} revived {w}" for w in workers.revive())
            rows = settled()
            if len(rows) >= total and all(status in ("SUCCESS", "FAILED", "CANCELED") for *_, status in rows):
                break
            time.sleep(1)
    context = (f"publisher {s.publisher}; faults: {log}; emit retries: {emitter.retries}; "
               f"watch restarts: {watch_restarts(tmp_path / 'logs')}; logs in {tmp_path / 'logs'}")
    assert started_at(s) > postgres_started, f"Postgres was not restarted; {context}"
    assert len(expected) >= RATE * 5, context  # events did flow

    got: dict[str, set[str]] = {}
    for event_id, automation_id, _ in rows:
        got.setdefault(event_id, set()).add(automation_id)
    missing = {e: sorted(want - got.get(e, set())) for e, want in expected.items()
               if want - got.get(e, set())}
    extra = {e: sorted(have - expected.get(e, set())) for e, have in got.items()
             if have - expected.get(e, set())}
    assert not missing, (f"{len(missing)} events without the executions their rules call for, emitted "
                         f"{spans(emitter.emitted_at[e] for e in missing)}: "
                         f"{dict(list(missing.items())[:20])}; {context}")
    assert not extra, f"executions no rule called for: {extra}; {context}"
    assert len(rows) == total, f"{len(rows)} executions for {total} expected (duplicates?); {context}"
    unfinished = [r for r in rows if r[2] != "SUCCESS"]
    if unfinished:
        with psycopg.connect(s.dsn) as conn:
            stuck = conn.execute(
                "SELECT e.id::text, e.status, coalesce((SELECT json_agg(json_build_array(r.step_id, "
                "r.attempt, r.status, r.error_code) ORDER BY r.started_at) FROM step_run r "
                "WHERE r.execution_id = e.id), '[]') FROM execution e WHERE e.status <> 'SUCCESS' LIMIT 10"
            ).fetchall()
        pytest.fail(f"{len(unfinished)} executions not SUCCESS: {unfinished[:20]}; their steps: {stuck}; "
                    f"{context}")

    with psycopg.connect(s.dsn) as conn:
        executions = {str(r[0]): str(r[1]) for r in conn.execute("SELECT id, automation_id FROM execution")}
    want_keys = {f"{ex}:{'charge' if automation == big else 'notify'}"
                 for ex, automation in executions.items()}
    applied = set(ledger.applied)
    assert applied == want_keys, (
        f"side effects without a step: {sorted(applied - want_keys)[:20]}; "
        f"steps whose side effect never happened: {sorted(want_keys - applied)[:20]}; {context}")
    repeated = {k: n for k, n in ledger.calls.items() if n > 1}
    # A repeated call is allowed (at-least-once), always with the step's one key: applied once.
    assert all(ledger.applied[k]["execution"] == k.split(":")[0] for k in repeated), context
