"""The pipeline through a Kafka that takes SASL/SCRAM only, with ACLs (``AUTOMATE_KAFKA_LOCAL_AUTH=scram``).

The shared stack stays as it is: this module starts a stack of its own in SCRAM mode (what ``automate up
kafka postgres connect`` does, in a fresh home under ``.automate/test-homes``, on free ports, the shared
stack's jars hard-linked instead of resolved again), migrates its database and registers the outbox
connector (``automate migrate``), and takes it all down at the end. The schema registry is the shared one
(it does not talk to Kafka). Events go the production way: ``emit_event``, Debezium on Connect, the
processors, the runtime and the retry worker, each worker a process of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from automate.config import Settings, project_root
from automate.db import migrate, set_publisher
from automate.demo.preflight import wait_for_connector
from automate.errors import ErrorCodes, TransportError
from automate.kafka_security import local_credentials_file
from automate.registry import register_contracts
from automate.stack import Stack
from automate.stack import process as processes
from automate.stack.base import Layout, http_json
from automate.stack.cdc import default_names, ensure_outbox_connector
from automate.supervise import settings_env
from automate.topics import core_topics, ensure_topics
from automate.transport import broker_ready, consumer, create_topics, high_watermarks, producer, take
from tests.hostile.pipeline import LivePipeline

pytestmark = pytest.mark.integration

FLOW = {"slug": "sasl-flow", "name": "through SCRAM", "trigger": {"event": "sasl.ping"},
        "steps": [{"id": "first", "action": "core.noop"},
                  {"id": "second", "action": "core.noop", "needs": ["first"]}]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _link_jars(shared: Path, home: Path, service: str) -> None:
    """The shared stack's jars of ``service`` (and Maven's stamp), hard-linked: no second resolution."""
    source, dest = shared / "lib" / service, home / "lib" / service
    if not (source / ".automate-pom-sha256").is_file():
        return  # not resolved yet: `up` resolves them
    dest.mkdir(parents=True)
    for item in source.iterdir():
        try:
            os.link(item, dest / item.name)
        except OSError:
            shutil.copy2(item, dest / item.name)


def _down(settings: Settings) -> None:
    """The JVMs killed (their data is thrown away, a graceful stop only costs time), then the rest."""
    layout = Layout(settings.home)
    for name in ("connect", "kafka"):
        record = processes.read_record(layout.record(name))
        if record is not None:
            processes.stop(record, sig=signal.SIGKILL, timeout=10)
            layout.record(name).unlink(missing_ok=True)
    Stack(settings).down()


@pytest.fixture(scope="module")
def scram(stack: Settings) -> Iterator[Settings]:
    """Settings of a stack of the module's own in SCRAM mode: Kafka, Postgres (migrated) and Connect
    (the outbox connector registered), the shared schema registry."""
    root = project_root()
    assert root is not None
    home = root / ".automate" / "test-homes" / f"sasl-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True)
    for service in ("kafka", "connect"):
        _link_jars(stack.home, home, service)
    settings = Settings(home=home, kafka_local_auth="scram", publisher="debezium",
                        topic_prefix=f"s{uuid.uuid4().hex[:8]}", schema_registry_url=stack.registry_url,
                        kafka_port=_free_port(), kafka_controller_port=_free_port(),
                        postgres_port=_free_port(), connect_port=_free_port())
    try:
        Stack(settings).up(["kafka", "postgres", "connect"])
        with psycopg.connect(settings.dsn) as conn:
            migrate(conn)
            set_publisher(conn, "debezium")
            register_contracts(settings, conn)
        ensure_topics(settings, core_topics(settings), partitions=3)
        ensure_outbox_connector(settings)
        wait_for_connector(settings, timeout=120)  # an event written before the slot streams is lost
        yield settings
    finally:
        from automate.db.context import close_pools

        close_pools(settings)
        _down(settings)
        shutil.rmtree(home, ignore_errors=True)


def _connector_state(settings: Settings) -> str:
    connector = default_names(settings).connector
    status = http_json("GET", f"{settings.connect_base_url}/connectors/{connector}/status")
    return f"{status}; Connect's log:\n{processes.tail(Layout(settings.home).log('connect'), 30)}"


def test_the_pipeline_runs_through_sasl_scram(scram: Settings, tmp_path: Path) -> None:
    live = LivePipeline(scram, tmp_path / "logs")
    live.apply(FLOW)
    before = high_watermarks(scram, [scram.topic("events")])
    with live.workers:
        events = [live.emit("sasl.ping", {"n": n}) for n in range(5)]
        for event_id in events:
            try:
                found = live.settled(event_id, timeout=90)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; the outbox connector: {_connector_state(scram)}") from None
            assert [status for _, status, _ in found] == ["SUCCESS"], found
        live.assert_healthy()
    after = high_watermarks(scram, [scram.topic("events")])
    # Every event (and the canary) went through the SCRAM broker's events topic, published by Debezium.
    assert sum(after.values()) - sum(before.values()) >= len(events) + 1
    # The workers got the security settings from their parent, not the password itself.
    env = settings_env(scram)
    assert env["AUTOMATE_KAFKA_LOCAL_AUTH"] == "scram"
    assert "AUTOMATE_KAFKA_SASL_PASSWORD" not in env


def test_connect_authenticates_its_worker_producer_consumer_and_admin(scram: Settings) -> None:
    props = scram.home / "conf" / "connect" / "connect-standalone.properties"
    assert stat.S_IMODE(props.stat().st_mode) == 0o600
    lines = props.read_text().splitlines()
    for prefix in ("", "producer.", "consumer.", "admin."):
        assert f"{prefix}security.protocol=SASL_PLAINTEXT" in lines
        assert f"{prefix}sasl.mechanism=SCRAM-SHA-512" in lines


def test_smoke_round_trips_a_record_through_scram(scram: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMATE_")} | settings_env(scram)
    topic = scram.topic(f"smoke-{uuid.uuid4().hex[:6]}")
    result = subprocess.run([sys.executable, "-m", "automate.cli", "smoke", "--topic", topic],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr  # it exits 1 when the record differs
    assert json.loads(result.stdout)["topic"] == topic


def test_a_client_without_credentials_is_refused(scram: Settings) -> None:
    began = time.monotonic()
    assert not broker_ready(scram.bootstrap_servers, timeout=5.0)  # PLAINTEXT: the broker hangs up
    assert time.monotonic() - began < 15
    assert broker_ready(scram.bootstrap_servers, timeout=10.0, settings=scram)
    anonymous = Settings(**{**scram.model_dump(), "kafka_local_auth": "none"})
    with pytest.raises(TransportError) as refused:
        create_topics(anonymous, [scram.topic("anonymous")], partitions=1, timeout=5)
    assert refused.value.code == ErrorCodes.KAFKA
    # Nor does a record it sends (a forged event) reach the events topic.
    events = scram.topic("events")
    before = high_watermarks(scram, [events])
    reports: list[object] = []
    forger = producer(anonymous, **{"message.timeout.ms": 5000})
    forger.produce(events, b"forged event", headers=[("ce_type", b"sasl.ping"), ("ce_tenant", b"acme")],
                   on_delivery=lambda err, _msg: reports.append(err))
    forger.flush(15)
    assert len(reports) == 1 and reports[0] is not None  # its delivery report is a failure
    assert high_watermarks(scram, [events]) == before
    # Nor does it read anything from a topic that holds records.
    create_topics(scram, [scram.topic("held")], partitions=1)
    writer = producer(scram)
    writer.produce(scram.topic("held"), b"secret record")
    assert writer.flush(30) == 0
    reader = consumer(anonymous, f"{scram.topic_prefix}-anonymous")
    try:
        reader.subscribe([scram.topic("held")])
        assert [m.value() for m in take(reader, 10, 5.0) if not m.error()] == []
    finally:
        reader.close()


def test_a_wrong_password_is_a_typed_refusal(scram: Settings) -> None:
    wrong = Settings(**{**scram.model_dump(), "kafka_security_protocol": "SASL_PLAINTEXT",
                        "kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": "automate",
                        "kafka_sasl_password": "not-the-password"})
    with pytest.raises(TransportError) as refused:
        create_topics(wrong, [scram.topic("wrong")], partitions=1, timeout=5)
    assert refused.value.code == ErrorCodes.KAFKA_AUTH
    assert not refused.value.retryable
    assert "not-the-password" not in str(refused.value)
    assert not broker_ready(scram.bootstrap_servers, timeout=3.0, settings=wrong)


def test_acls_keep_the_automate_user_to_its_prefix(scram: Settings) -> None:
    with pytest.raises(TransportError) as refused:
        create_topics(scram, [f"other{uuid.uuid4().hex[:6]}.events"], partitions=1, timeout=10)
    assert refused.value.code == ErrorCodes.KAFKA_AUTH
    assert create_topics(scram, [scram.topic(f"mine-{uuid.uuid4().hex[:6]}")], partitions=1)


def test_the_credentials_file_is_the_owners_only(scram: Settings) -> None:
    path = local_credentials_file(scram)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(json.loads(path.read_text())) == {"mechanism", "admin", "automate"}
    server = scram.home / "conf" / "kafka" / "server.properties"
    assert stat.S_IMODE(server.stat().st_mode) == 0o600
    (kafka,) = [found for found in Stack(scram).status() if found.name == "kafka"]
    assert kafka.state == "running"
    password = json.loads(path.read_text())["automate"]
    assert password not in json.dumps(kafka.to_dict())
