"""`automate up | down | status | logs` as a user runs them: real processes, real ports, real failures."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from automate.config import Settings, project_root
from automate.stack import process

pytestmark = pytest.mark.integration

SERVICES = ("postgres", "kafka", "connect", "registry", "prometheus")


def automate(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "automate.cli", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def home() -> Iterator[Path]:
    """A stack home of the test's own, inside the checkout (the postgres user must reach it)."""
    root = project_root()
    assert root is not None
    path = root / ".automate" / "test-homes" / uuid.uuid4().hex[:8]
    path.mkdir(parents=True)
    yield path
    automate("down", env={"AUTOMATE_HOME": str(path)})
    shutil.rmtree(path, ignore_errors=True)


def test_status_json_names_every_service_with_url_and_state(stack: Settings) -> None:
    result = automate("status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert set(status) == {*SERVICES, "publisher"}
    assert status["publisher"]["working"] is True, status["publisher"]
    services = {name: status[name] for name in SERVICES}
    assert all(s["state"] == "running" for s in services.values()), status
    assert status["postgres"]["url"].startswith("postgresql://")
    assert status["kafka"]["url"] == stack.bootstrap_servers
    assert status["registry"]["url"].endswith("/apis/ccompat/v7")
    assert status["connect"]["url"].startswith("http://")
    assert status["prometheus"]["url"].startswith("http://")
    assert urlsplit(status["postgres"]["url"]).password is None  # never print the password
    assert all(isinstance(s["pid"], int) and s["since"] for s in services.values())


def test_second_up_is_a_no_op(stack: Settings) -> None:
    before = json.loads(automate("status", "--json").stdout)
    result = automate("up")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("already running") == len(SERVICES)
    after = json.loads(automate("status", "--json").stdout)
    assert {k: before[k]["pid"] for k in SERVICES} == {k: after[k]["pid"] for k in SERVICES}


def test_up_status_down_of_one_service_leaves_no_process(home: Path) -> None:
    env = {"AUTOMATE_HOME": str(home), "AUTOMATE_POSTGRES_PORT": str(free_port())}
    up = automate("up", "postgres", env=env)
    assert up.returncode == 0, up.stderr
    status = json.loads(automate("status", "--json", env=env).stdout)
    assert status["postgres"]["state"] == "running"
    record = process.read_record(home / "run" / "postgres.json")
    assert record is not None and process.alive(record)
    down = automate("down", env=env)
    assert down.returncode == 0, down.stderr
    assert not process.alive(record)
    assert not (home / "run" / "postgres.json").exists()
    leftovers = subprocess.run(["pgrep", "-f", str(home)], capture_output=True, text=True).stdout
    assert leftovers == ""
    status = json.loads(automate("status", "--json", env=env).stdout)
    assert status["postgres"]["state"] == "stopped"


def test_port_taken_is_a_one_line_reason(home: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {"AUTOMATE_HOME": str(home), "AUTOMATE_POSTGRES_PORT": str(port)}
        result = automate("up", "postgres", env=env)
    assert result.returncode == 1
    assert f"port {port} is taken" in result.stderr
    assert "AUTOMATE_POSTGRES_PORT" in result.stderr


def test_corrupted_pid_file_counts_as_stopped_and_up_recovers(home: Path) -> None:
    env = {"AUTOMATE_HOME": str(home), "AUTOMATE_POSTGRES_PORT": str(free_port())}
    (home / "run").mkdir(parents=True)
    (home / "run" / "postgres.json").write_text("{not json")
    status = automate("status", "--json", env=env)
    assert status.returncode == 1
    assert json.loads(status.stdout)["postgres"]["state"] == "stopped"
    up = automate("up", "postgres", env=env)
    assert up.returncode == 0, up.stderr
    assert json.loads(automate("status", "--json", env=env).stdout)["postgres"]["state"] == "running"


def test_corrupted_data_folder_names_the_fix(home: Path) -> None:
    data = home / "data" / "postgres"
    data.mkdir(parents=True)
    (data / "garbage").write_text("not a cluster")
    env = {"AUTOMATE_HOME": str(home), "AUTOMATE_POSTGRES_PORT": str(free_port())}
    result = automate("up", "postgres", env=env)
    assert result.returncode == 1
    assert "not a PostgreSQL data folder" in result.stderr
    assert "automate down --purge" in result.stderr


def test_missing_java_names_the_fix(home: Path) -> None:
    env = {"AUTOMATE_HOME": str(home), "AUTOMATE_JAVA_HOME": str(home / "no-jdk-here"),
           "AUTOMATE_KAFKA_PORT": str(free_port()), "AUTOMATE_KAFKA_CONTROLLER_PORT": str(free_port())}
    result = automate("up", "kafka", env=env)
    assert result.returncode == 1
    assert "holds no Java 17+" in result.stderr
    assert "AUTOMATE_JAVA_HOME" in result.stderr


def test_unreachable_maven_central_is_reported(home: Path, tmp_path: Path) -> None:
    m2 = tmp_path / "m2home"
    (m2 / ".m2").mkdir(parents=True)
    # A proxy on a port nobody listens on: every download fails at once, as without a network.
    (m2 / ".m2" / "settings.xml").write_text(
        "<settings><proxies><proxy><id>none</id><active>true</active><protocol>https</protocol>"
        "<host>127.0.0.1</host><port>9</port></proxy></proxies></settings>"
    )
    env = {"AUTOMATE_HOME": str(home), "MAVEN_OPTS": f"-Duser.home={m2}",
           "AUTOMATE_KAFKA_PORT": str(free_port()), "AUTOMATE_KAFKA_CONTROLLER_PORT": str(free_port())}
    result = automate("up", "kafka", env=env)
    assert result.returncode == 1
    assert "mvn could not resolve" in result.stderr
    assert "Maven Central reachable" in result.stderr
    assert not (home / "lib" / "kafka").exists()


def test_unknown_service_is_refused() -> None:
    result = automate("up", "mysql")
    assert result.returncode == 1
    assert "unknown service" in result.stderr


def test_logs_prints_the_service_log(stack: Settings) -> None:
    result = automate("logs", "postgres", "-n", "5")
    assert result.returncode == 0, result.stderr
    assert 0 < len(result.stdout.strip().splitlines()) <= 5


def test_down_of_one_service_leaves_the_others_running(home: Path) -> None:
    env = {"AUTOMATE_HOME": str(home), "AUTOMATE_POSTGRES_PORT": str(free_port()),
           "AUTOMATE_CONNECT_PORT": str(free_port())}
    assert automate("up", "postgres", env=env).returncode == 0
    down = automate("down", "connect", env=env)  # connect needs postgres; stopping it must not stop postgres
    assert down.returncode == 0, down.stderr
    assert json.loads(automate("status", "--json", env=env).stdout)["postgres"]["state"] == "running"
