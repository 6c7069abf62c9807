"""The pipeline through a Kafka that takes SASL/SCRAM only, with ACLs (``AUTOMATE_KAFKA_LOCAL_AUTH=scram``).

The shared stack stays as it is: this module starts a broker of its own in SCRAM mode (``automate up
kafka`` in a fresh home under ``.automate/test-homes``, free ports, the shared stack's jars hard-linked
instead of resolved again) and takes it down at the end. PostgreSQL and the schema registry are the
shared ones (neither talks to Kafka): a fresh database of the module's own, as every pipeline test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from automate.config import Settings, project_root
from automate.errors import ErrorCodes, TransportError
from automate.kafka_security import local_credentials_file
from automate.supervise import settings_env
from automate.topics import core_topics, ensure_topics
from automate.transport import broker_ready, consumer, create_topics, high_watermarks, producer, take
from tests.conftest import fresh_database
from tests.hostile.pipeline import LivePipeline

pytestmark = pytest.mark.integration

FLOW = {"slug": "sasl-flow", "name": "through SCRAM", "trigger": {"event": "sasl.ping"},
        "steps": [{"id": "first", "action": "core.noop"},
                  {"id": "second", "action": "core.noop", "needs": ["first"]}]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _automate(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMATE_")}
    return subprocess.run([sys.executable, "-m", "automate.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**clean, **env})


def _link_jars(shared: Path, home: Path) -> None:
    """The shared stack's Kafka jars (and Maven's stamp), hard-linked: no second resolution."""
    source, dest = shared / "lib" / "kafka", home / "lib" / "kafka"
    if not (source / ".automate-pom-sha256").is_file():
        return  # not resolved yet: `automate up` resolves them
    dest.mkdir(parents=True)
    for item in source.iterdir():
        try:
            os.link(item, dest / item.name)
        except OSError:
            shutil.copy2(item, dest / item.name)


@pytest.fixture(scope="module")
def scram(stack: Settings, template_db: str) -> Iterator[Settings]:
    """Settings of a fresh database and topic prefix, on a broker of the module's own in SCRAM mode."""
    root = project_root()
    assert root is not None
    home = root / ".automate" / "test-homes" / f"sasl-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True)
    _link_jars(stack.home, home)
    with fresh_database(stack, template_db) as base:
        settings = Settings(**{**base.model_dump(), "home": home, "kafka_local_auth": "scram",
                               "kafka_port": _free_port(), "kafka_controller_port": _free_port()})
        env = {"AUTOMATE_HOME": str(home), "AUTOMATE_KAFKA_LOCAL_AUTH": "scram",
               "AUTOMATE_KAFKA_PORT": str(settings.kafka_port),
               "AUTOMATE_KAFKA_CONTROLLER_PORT": str(settings.kafka_controller_port),
               "AUTOMATE_TOPIC_PREFIX": settings.topic_prefix}
        try:
            up = _automate("up", "kafka", env=env)
            assert up.returncode == 0, up.stdout + up.stderr
            ensure_topics(settings, core_topics(settings), partitions=3)
            yield settings
        finally:
            _automate("down", env=env, timeout=120)
            shutil.rmtree(home, ignore_errors=True)


def test_the_pipeline_runs_through_sasl_scram(scram: Settings, tmp_path: Path) -> None:
    live = LivePipeline(scram, tmp_path / "logs")
    live.apply(FLOW)
    before = high_watermarks(scram, [scram.topic("events")])
    with live.workers:
        events = [live.emit("sasl.ping", {"n": n}) for n in range(5)]
        for event_id in events:
            found = live.settled(event_id, timeout=90)
            assert [status for _, status, _ in found] == ["SUCCESS"], found
        live.assert_healthy()
    after = high_watermarks(scram, [scram.topic("events")])
    # Every event (and the canary) went through the SCRAM broker's events topic, published by the relay.
    assert sum(after.values()) - sum(before.values()) >= len(events) + 1
    # The workers got the security settings from their parent, not the password itself.
    env = settings_env(scram)
    assert env["AUTOMATE_KAFKA_LOCAL_AUTH"] == "scram"
    assert "AUTOMATE_KAFKA_SASL_PASSWORD" not in env


def test_a_client_without_credentials_is_refused(scram: Settings) -> None:
    began = time.monotonic()
    assert not broker_ready(scram.bootstrap_servers, timeout=5.0)  # PLAINTEXT: the broker hangs up
    assert time.monotonic() - began < 15
    assert broker_ready(scram.bootstrap_servers, timeout=10.0, settings=scram)
    anonymous = Settings(**{**scram.model_dump(), "kafka_local_auth": "none"})
    with pytest.raises(TransportError) as refused:
        create_topics(anonymous, [scram.topic("anonymous")], partitions=1, timeout=5)
    assert refused.value.code == ErrorCodes.KAFKA
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
        create_topics(wrong, [scram.topic("wrong")], partitions=1, timeout=10)
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
    status = _automate("status", "--json", env={"AUTOMATE_HOME": str(scram.home),
                                                "AUTOMATE_KAFKA_LOCAL_AUTH": "scram",
                                                "AUTOMATE_KAFKA_PORT": str(scram.kafka_port)})
    assert json.loads(status.stdout)["kafka"]["state"] == "running", status.stdout + status.stderr
    password = json.loads(path.read_text())["automate"]
    assert password not in status.stdout + status.stderr
