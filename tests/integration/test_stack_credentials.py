"""The local stack's credentials, on a second stack of the test's own (own home, own ports; the shared one
is never touched): no trust login, owner-only socket folder and password files, no password in what
`automate up` / `status` print, the Debezium connector's password kept out of its config and out of
Connect's REST answers, and events still flowing through Debezium with a password full of `"` and `\\`."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from automate.config import Settings, project_root
from automate.stack.base import http_json
from automate.stack.cdc import default_names
from automate.stack.services.postgres import HBA, find_pg_bin
from tests.support import assert_eventually, consume, header

pytestmark = pytest.mark.integration

# Everything a careless quoting would trip on: JSON, Java properties, libpq URLs, shells.
PASSWORD = 'pa"ss\\wo:rd=#!@/ü $x`'
LEGACY_HBA = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nlocal replication all trust\n" \
             "host replication all 127.0.0.1/32 scram-sha-256\n"


def automate(*args: str, env: dict[str, str], timeout: float = 400) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOMATE_", "PG"))}
    return subprocess.run([sys.executable, "-m", "automate.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**clean, **env})


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _no_password(text: str) -> None:
    for form in (PASSWORD, quote(PASSWORD, safe=""), json.dumps(PASSWORD)[1:-1], "pa\"ss", "wo:rd"):
        assert form not in text, f"the password ({form!r}) is printed: {text[:2000]}"


class SecondStack:
    """A stack of the test's own: a home inside the checkout (the postgres user must reach it), the jars
    of the shared home linked (read only), its own ports."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {
            "AUTOMATE_HOME": str(home),
            "AUTOMATE_POSTGRES_PORT": str(free_port()),
            "AUTOMATE_KAFKA_PORT": str(free_port()),
            "AUTOMATE_KAFKA_CONTROLLER_PORT": str(free_port()),
            "AUTOMATE_CONNECT_PORT": str(free_port()),
            "AUTOMATE_REGISTRY_PORT": str(free_port()),
            "AUTOMATE_REGISTRY_MANAGEMENT_PORT": str(free_port()),
            "AUTOMATE_PROMETHEUS_PORT": str(free_port()),
            "AUTOMATE_POSTGRES_PASSWORD": PASSWORD,
            "AUTOMATE_TOPIC_PREFIX": f"cred{uuid.uuid4().hex[:6]}",
            "AUTOMATE_PUBLISHER": "debezium",
        }
        self.settings = Settings(
            home=home, postgres_port=int(self.env["AUTOMATE_POSTGRES_PORT"]),
            kafka_port=int(self.env["AUTOMATE_KAFKA_PORT"]),
            connect_port=int(self.env["AUTOMATE_CONNECT_PORT"]),
            postgres_password=PASSWORD, topic_prefix=self.env["AUTOMATE_TOPIC_PREFIX"],
        )

    @property
    def sockdir(self) -> Path:
        return self.home / "run" / "postgres"

    def socket_login(self, password: str | None = None) -> None:
        """Log in over the Unix socket (as root, who can reach it), with no password unless given."""
        with psycopg.connect(host=str(self.sockdir), port=self.settings.postgres_port, user="automate",
                             dbname="postgres", password=password, passfile="/dev/null",
                             connect_timeout=5) as conn:
            conn.execute("SELECT 1")


@pytest.fixture
def second() -> Iterator[SecondStack]:
    root = project_root()
    assert root is not None
    home = root / ".automate" / "test-homes" / f"cred-{uuid.uuid4().hex[:8]}"
    (home / "lib").mkdir(parents=True)
    for name in ("kafka", "connect"):
        shared = root / ".automate" / "lib" / name
        if shared.is_dir():
            (home / "lib" / name).symlink_to(shared, target_is_directory=True)
    stack = SecondStack(home)
    yield stack
    automate("down", env=stack.env)
    shutil.rmtree(home, ignore_errors=True)


def test_postgres_takes_no_password_less_login_and_keeps_its_files_private(second: SecondStack) -> None:
    up = automate("up", "postgres", env=second.env)
    assert up.returncode == 0, up.stderr
    _no_password(up.stdout + up.stderr)
    assert _mode(second.sockdir) == 0o700
    assert second.sockdir.stat().st_uid == (os.stat(second.home / "data" / "postgres").st_uid)
    hba = second.home / "data" / "postgres" / "pg_hba.conf"
    assert hba.read_text() == HBA and "trust" not in hba.read_text().split("#")[-1]
    assert _mode(hba) == 0o600
    assert not (second.home / "run" / "postgres.pw").exists()  # initdb's password file is gone
    with pytest.raises(psycopg.OperationalError, match="password"):
        second.socket_login()  # not even root's own socket login goes without the password
    second.socket_login(PASSWORD)
    # Another local user cannot even reach the socket.
    other = subprocess.run(
        ["runuser", "-u", "nobody", "--", str(find_pg_bin() / "psql"), "-h", str(second.sockdir),
         "-p", str(second.settings.postgres_port), "-U", "automate", "-d", "postgres", "-w",
         "-c", "select 1"],
        capture_output=True, text=True, timeout=30, cwd="/",
    )
    assert other.returncode != 0
    assert "Permission denied" in other.stderr, other.stderr


def test_a_trust_data_folder_is_made_safe_by_the_next_up(second: SecondStack) -> None:
    assert automate("up", "postgres", env=second.env).returncode == 0
    # What an older version made: trust over the socket, a socket folder anyone may enter.
    hba = second.home / "data" / "postgres" / "pg_hba.conf"
    owner = hba.stat()
    hba.write_text(LEGACY_HBA)
    os.chown(hba, owner.st_uid, owner.st_gid)
    second.sockdir.chmod(0o755)
    with psycopg.connect(second.settings.dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
    assert_eventually(lambda: second.socket_login() is None, timeout=10)  # the legacy hole is open

    up = automate("up", "postgres", env=second.env)  # already running: hardened in place, not restarted
    assert up.returncode == 0, up.stderr
    assert "already running" in up.stderr and "pg_hba.conf rewritten" in up.stderr
    assert hba.read_text() == HBA and _mode(hba) == 0o600 and _mode(second.sockdir) == 0o700
    with pytest.raises(psycopg.OperationalError, match="password"):
        second.socket_login()
    second.socket_login(PASSWORD)
    again = automate("up", "postgres", env=second.env)
    assert again.returncode == 0 and "pg_hba.conf rewritten" not in again.stderr  # once only

    # The same folder while the server is stopped: made safe before it starts.
    assert automate("down", env=second.env).returncode == 0
    hba.write_text(LEGACY_HBA)
    os.chown(hba, owner.st_uid, owner.st_gid)
    second.sockdir.chmod(0o755)
    assert automate("up", "postgres", env=second.env).returncode == 0
    assert hba.read_text() == HBA and _mode(second.sockdir) == 0o700
    with pytest.raises(psycopg.OperationalError, match="password"):
        second.socket_login()


def test_status_and_up_never_print_a_database_password(second: SecondStack) -> None:
    assert automate("up", "postgres", env=second.env).returncode == 0
    external = {**second.env, "AUTOMATE_DATABASE_URL": second.settings.dsn,  # the same server, "external"
                "AUTOMATE_SCHEMA_REGISTRY_URL": f"http://reader:{quote(PASSWORD, safe='')}@127.0.0.1:1/apis"}
    for args in (("status",), ("status", "--json"), ("up", "postgres")):
        result = automate(*args, env=external)
        _no_password(result.stdout + result.stderr)
        assert "postgresql://automate:***@127.0.0.1" in (result.stdout + result.stderr).replace("\n", "")
    registry = json.loads(automate("status", "--json", env=external).stdout)["registry"]
    assert registry == {**registry, "state": "external", "url": "http://reader:***@127.0.0.1:1/apis"}
    status = json.loads(automate("status", "--json", env=second.env).stdout)
    port = second.settings.postgres_port
    assert status["postgres"]["url"] == f"postgresql://automate@127.0.0.1:{port}/automate"
    # An unreachable external database: the error names it, without its password.
    unreachable = f"postgresql://app:{quote(PASSWORD, safe='')}@127.0.0.1:1/x"
    broken = {**second.env, "AUTOMATE_DATABASE_URL": unreachable}
    failed = automate("migrate", "--no-schemas", "--no-connector", env=broken)
    assert failed.returncode == 1
    _no_password(failed.stdout + failed.stderr)


@pytest.mark.timeout(900)
def test_debezium_reads_its_password_through_the_config_provider(second: SecondStack) -> None:
    up = automate("up", "connect", env=second.env, timeout=600)  # with postgres and kafka
    assert up.returncode == 0, up.stderr[-3000:]
    migrate = automate("migrate", "--no-schemas", env=second.env)
    assert migrate.returncode == 0, migrate.stderr
    assert "outbox connector (publisher=debezium): created" in migrate.stderr
    _no_password(up.stdout + up.stderr + migrate.stdout + migrate.stderr)

    connector = default_names(second.settings).connector
    secrets = second.home / "conf" / "connect" / "secrets"
    password_file = secrets / f"{connector}.properties"
    assert _mode(secrets) == 0o700 and _mode(password_file) == 0o600
    base = second.settings.connect_base_url
    config = http_json("GET", f"{base}/connectors/{connector}/config")
    assert config["database.password"] == f"${{file:{password_file}:database.password}}"
    # Nothing Connect's REST API answers holds the password.
    answers = [config, http_json("GET", f"{base}/connectors/{connector}"),
               http_json("GET", f"{base}/connectors?expand=info&expand=status")]
    answers.append(assert_eventually(lambda: http_json("GET", f"{base}/connectors/{connector}/tasks") or None,
                                     timeout=60))
    _no_password(json.dumps(answers))

    slot = config["slot.name"]

    def streaming() -> bool:
        with psycopg.connect(second.settings.dsn) as conn:
            row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                               (slot,)).fetchone()
        return bool(row and row[0])

    assert_eventually(streaming, timeout=120, interval=1.0)
    _published(second, second.settings.dsn)

    # A new password: the same placeholder, a new file behind it, the connector restarted to read it.
    rotated = PASSWORD + "2"
    with psycopg.connect(second.settings.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE automate PASSWORD {}").format(sql.Literal(rotated)))
    env = {**second.env, "AUTOMATE_POSTGRES_PASSWORD": rotated}
    again = automate("migrate", "--no-schemas", env=env)
    assert again.returncode == 0, again.stderr
    assert "outbox connector (publisher=debezium): restarted" in again.stderr
    assert http_json("GET", f"{base}/connectors/{connector}/config") == config
    dsn = second.settings.dsn.replace(quote(PASSWORD, safe=""), quote(rotated, safe=""))
    _published(second, dsn)

    # Connect's own log never wrote a password either.
    log = (second.home / "logs" / "connect.log").read_text(errors="replace")
    _no_password(log)
    assert quote(rotated, safe="") not in log

    # A worker started by an older version (no provider in its properties): `up` says how to fix it, and
    # the connector is not registered with the password in its config.
    props = second.home / "conf" / "connect" / "connect-standalone.properties"
    props.write_text("".join(line for line in props.read_text().splitlines(keepends=True)
                             if not line.startswith("config.providers")))
    up = automate("up", "connect", env=env)
    assert up.returncode == 0, up.stderr
    assert "automate down connect && automate up connect" in up.stderr
    refused = automate("migrate", "--no-schemas", env=env)
    assert refused.returncode == 1 and "config provider" in refused.stderr
    assert http_json("GET", f"{base}/connectors/{connector}/config") == config


def _published(second: SecondStack, dsn: str) -> None:
    """An outbox row written with ``dsn`` reaches Kafka through Debezium."""
    event_id = uuid.uuid4()
    topic = second.settings.topic("events")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO automate_outbox (id, tenant, aggregatetype, aggregateid, type, payload, created_at)"
            " VALUES (%s, 'acme', %s, 'k-1', 'credentials.checked', %s, now())",
            (event_id, topic, b"\x00payload"),
        )
    msgs = consume(second.settings.bootstrap_servers, topic,
                   lambda ms: any(header(m, "ce_id") == str(event_id).encode() for m in ms), timeout=120)
    record = next(m for m in msgs if header(m, "ce_id") == str(event_id).encode())
    assert record.value() == b"\x00payload" and record.key() == b"k-1"
