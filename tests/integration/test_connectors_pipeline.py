"""Connectors in the whole pipeline: workflows calling them through the Kafka runtime workers (as
processes), a rate limit the workers share, and no secret value anywhere it could stay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from automate.config import Settings
from automate.events import emit_event, run_workflow
from automate.secrets.admin import set_secret
from automate.topics import core_topics, ensure_topics
from automate.transport import admin, high_watermarks, read_between
from automate_core.outbox.relay import Relay
from tests.integration.connector_support import TENANT, connection
from tests.integration.peers import Recorded, free_port, http_peer, moto_server, smtp_server
from tests.integration.runtime_support import apply_workflow
from tests.support import assert_eventually, partitions_held

pytestmark = pytest.mark.integration


def _runtime_workers(s: Settings, log_dir: Path, count: int, env: dict[str, str] | None = None,
                     command: tuple[str, ...] = ("runtime",)) -> list[subprocess.Popen[str]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMATE_")}
    environment.update({"AUTOMATE_DATABASE_URL": s.dsn, "AUTOMATE_TOPIC_PREFIX": s.topic_prefix,
                        "AUTOMATE_TENANT": TENANT, "AUTOMATE_HTTP_ALLOWLIST": '["127.0.0.1/32"]',
                        **(env or {})})
    workers = []
    for n in range(count):
        with open(log_dir / f"{command[0]}-{n}.log", "w") as log:
            workers.append(subprocess.Popen([sys.executable, "-m", "automate.cli", *command], env=environment,
                                            text=True, stdout=log, stderr=subprocess.STDOUT))
    return workers


def _stop(workers: list[subprocess.Popen[str]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(30)


def _automation_statuses(s: Settings, slug: str) -> list[str]:
    with psycopg.connect(s.dsn) as conn:
        return [str(r[0]) for r in conn.execute(
            "SELECT e.status FROM execution e JOIN automation a ON a.id = e.automation_id WHERE a.slug = %s",
            (slug,)).fetchall()]


def _statuses(s: Settings, ids: list[str]) -> list[str]:
    with psycopg.connect(s.dsn) as conn:
        return [str(r[0]) for r in conn.execute("SELECT status FROM execution WHERE id = ANY(%s::uuid[])",
                                                (ids,)).fetchall()]


@pytest.fixture
def pipeline(connector_settings: Settings) -> Iterator[Settings]:
    ensure_topics(connector_settings, core_topics(connector_settings), partitions=3)
    yield connector_settings


def test_a_rate_limited_connector_slows_two_runtime_workers_together(pipeline: Settings,
                                                                     tmp_path: Path) -> None:
    s = pipeline
    calls: list[float] = []

    def slack(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        calls.append(time.monotonic())
        return 200, {"Content-Type": "application/json"}, b'{"ok": true, "channel": "C1", "ts": "1.0"}'

    with http_peer(slack) as peer:
        set_secret(s, "SLACK_BOT_TOKEN", "xoxb-rate", tenant=TENANT)
        connection(s, "team-slack", "slack", {"token": "$secret:SLACK_BOT_TOKEN",
                                              "base_url": f"{peer.url}/api/"})
        apply_workflow(s, {"slug": "announce", "name": "announce", "tenant": TENANT, "steps": [
            {"id": "post", "action": "slack.send_message", "connection": "team-slack",
             "input": {"channel": "C1", "text": "order {{ execution.context.n }}"}}]})
        workers = _runtime_workers(s, tmp_path, 2)
        group = f"{s.topic_prefix}-runtime"
        client = admin(s)

        def both_hold_partitions() -> bool:
            held = partitions_held(client, group)
            return len(held) == 2 and all(held)

        try:
            assert_eventually(both_hold_partitions, timeout=90, interval=1)
            ids = [run_workflow("announce", {"n": n}, settings=s, tenant=TENANT) for n in range(8)]
            with Relay(s) as relay:
                relay.drain()
            assert_eventually(lambda: _statuses(s, ids) == ["SUCCESS"] * 8, timeout=120, interval=0.5)
        finally:
            _stop(workers)
    # Slack's chat class: a burst of 3, then one a second, whichever worker calls. Times are the peer's
    # receipts, so each carries its own delivery delay (a loaded machine spreads them by a tenth of a second
    # or more); without the shared limit all eight would arrive within a fraction of a second.
    assert len(calls) == 8
    calls.sort()
    for n, at in enumerate(calls[3:], start=1):
        assert at - calls[0] >= n * 1.0 - 0.3, [round(c - calls[0], 2) for c in calls]


def test_secrets_used_by_every_connector_leave_no_trace(pipeline: Settings, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An event starts a workflow (through a processors worker and a runtime worker, as processes) that
    calls each connector with its credentials from the secret store, and fails once on purpose; then the
    workers' logs, Kafka topics, step rows, dead letters and the processors' metrics are searched for
    every value. (The runtime worker serves no metrics yet.)"""
    s = pipeline
    secrets = {"SLACK_TOKEN": "xoxb-LEAK-slack-41", "WHSEC": "whsec_TEVBS3dlYmhvb2tzZWNyZXQ0MjQyNDI0Mg==",
               "SMTP_PASSWORD": "smtp-LEAK-pass-43", "AWS_SECRET": "aws-LEAK-secret-44",
               "AWS_KEY_ID": "AKIALEAK45", "DB_URL": s.dsn, "API_TOKEN": "api-LEAK-token-46"}
    for name, value in secrets.items():
        set_secret(s, name, value, tenant=TENANT)
    for name, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)

    def echo(request: Recorded) -> tuple[int, dict[str, str], bytes]:  # a server that echoes what it got
        body = {"ok": True, "channel": "C1", "ts": "1.0", "echo": dict(request.headers),
                "body": request.body.decode(errors="replace")}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    with http_peer(echo) as peer, smtp_server(tmp_path, password=secrets["SMTP_PASSWORD"]) as smtp, \
            moto_server() as aws:
        import boto3

        boto3.client("s3", endpoint_url=aws, region_name="us-east-1").create_bucket(Bucket="leaks")
        connection(s, "slack", "slack", {"token": "$secret:SLACK_TOKEN", "base_url": f"{peer.url}/api/"})
        connection(s, "hooks", "webhook", {"secret": "$secret:WHSEC", "url": f"{peer.url}/hook"})
        connection(s, "mail", "email", {"host": smtp.host, "port": smtp.port, "username": "shop",
                                        "password": "$secret:SMTP_PASSWORD", "from_address": "s@example.com",
                                        "ca_file": smtp.ca_file})
        connection(s, "aws", "aws", {"endpoint_url": aws, "region": "us-east-1",
                                     "access_key_id": "$secret:AWS_KEY_ID",
                                     "secret_access_key": "$secret:AWS_SECRET"})
        connection(s, "db", "postgres", {"dsn": "$secret:DB_URL"})
        apply_workflow(s, {"slug": "leaky", "name": "leaky", "tenant": TENANT,
                           "trigger": {"event": "leak.requested"}, "steps": [
            {"id": "http", "action": "http.request",
             "input": {"url": f"{peer.url}/api", "method": "POST", "json": {"x": 1},
                       "headers": {"Authorization": "Bearer $secret:API_TOKEN"}}},
            {"id": "slack", "action": "slack.send_message", "connection": "slack",
             "input": {"channel": "C1", "text": "hello"}},
            {"id": "hook", "action": "webhook.send", "connection": "hooks", "input": {"payload": {"a": 1}}},
            {"id": "mail", "action": "email.send", "connection": "mail",
             "input": {"to": "a@example.com", "subject": "s", "text": "t"}},
            {"id": "s3", "action": "aws.s3_put_object", "connection": "aws",
             "input": {"bucket": "leaks", "key": "k", "body": "b"}},
            {"id": "sql", "action": "postgres.query", "connection": "db",
             "input": {"sql": "SELECT 1 AS one"}},
            {"id": "boom", "action": "postgres.query", "connection": "db", "needs": ["sql"],
             "input": {"sql": "SELECT * FROM no_such_table"}},
        ]})
        debug = {"AUTOMATE_LOG_LEVEL": "DEBUG"}
        metrics_port = free_port()
        workers = _runtime_workers(s, tmp_path, 1, debug) + _runtime_workers(
            s, tmp_path, 1, debug, ("processors", "--metrics-port", str(metrics_port)))
        try:
            emit_event("leak.requested", {"order": "ORD-1"}, tenant=TENANT, settings=s)
            with Relay(s) as relay:
                relay.drain()
            assert_eventually(lambda: _automation_statuses(s, "leaky") == ["FAILED"], timeout=120,
                              interval=0.5)
            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        finally:
            _stop(workers)
        assert len(smtp.messages) == 1
        assert any("Bearer api-LEAK-token-46" in str(r.headers) for r in peer.requests)
    with psycopg.connect(s.dsn) as conn:
        rows = json.dumps(conn.execute("SELECT * FROM step_run").fetchall(), default=str)
        rows += json.dumps(conn.execute("SELECT * FROM execution").fetchall(), default=str)
        rows += json.dumps(conn.execute("SELECT * FROM connection").fetchall(), default=str)
    assert '"SUCCESS"' in rows and "no_such_table" in rows  # the search reads what was recorded
    topics = [t for t in admin(s).list_topics(timeout=30).topics if t.startswith(s.topic_prefix + ".")]
    messages = read_between(s, {}, high_watermarks(s, topics))
    records = b"".join((m.value() or b"") + b"".join(v or b"" for _k, v in (m.headers() or []))
                       for m in messages)
    assert b"UndefinedTable" in records  # the dead letter is among what is searched
    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert 'workflow="leaky"' in metrics  # the processors counted the event they routed
    for name, value in secrets.items():
        assert value not in rows, f"{name} in the database"
        assert value.encode() not in records, f"{name} on a Kafka topic"
        assert value not in logs, f"{name} in a worker's log"
        assert value not in metrics, f"{name} in the metrics"
