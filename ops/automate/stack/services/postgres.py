"""PostgreSQL 15 from Debian's packages, as a non-root user, with wal_level=logical for Debezium.

No trust authentication anywhere: every connection, over TCP or the Unix socket, logs in with its password
(scram-sha-256), and the socket's folder is its owner's alone (0700). A data folder made before this (with
``--auth-local=trust``) gets the same pg_hba.conf on the next ``automate up``, reloaded while it runs."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Final
from urllib.parse import quote

import psycopg

from automate.db.admin import DatabaseAdmin
from automate.errors import MissingDependencyError, StackError
from automate.redact import mask_url
from automate.stack.base import Launch, Service
from automate.stack.credentials import private_dir, write_private

__all__ = ["Postgres", "find_pg_bin"]

_DATABASES = ("automate", "apicurio")

# The whole pg_hba.conf: password (SCRAM) logins only, over the socket and the loopback, for clients and
# for replication (Debezium).
HBA: Final = """\
# Written by `automate up` (automate.stack.services.postgres); rewritten when it differs.
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  scram-sha-256
host    all          all   127.0.0.1/32   scram-sha-256
host    all          all   ::1/128        scram-sha-256
local   replication  all                  scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
host    replication  all   ::1/128        scram-sha-256
"""


def find_pg_bin(preferred: int = 15) -> Path:
    """The bin folder of a PostgreSQL server installation (Debian layout), preferring ``preferred``."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((int(p.name) for p in root.glob("*") if p.name.isdigit()), reverse=True)
    if preferred in versions:
        versions.insert(0, preferred)
    for version in versions:
        bin_dir = root / str(version) / "bin"
        if (bin_dir / "postgres").is_file() and (bin_dir / "initdb").is_file():
            return bin_dir
    raise MissingDependencyError("PostgreSQL server not found: run `apt-get install -y postgresql-15`")


class Postgres(Service):
    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back clients, checkpoint, exit

    @property
    def external(self) -> bool:
        return self.settings.database_url is not None

    @property
    def url(self) -> str:
        if self.settings.database_url:
            return mask_url(self.settings.database_url)
        user = quote(self.settings.postgres_user, safe="")
        db = quote(self.settings.postgres_db, safe="")
        return f"postgresql://{user}@127.0.0.1:{self.settings.postgres_port}/{db}"  # no password

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.postgres_port,)

    @property
    def datadir(self) -> Path:
        return self.layout.data("postgres")

    @property
    def sockdir(self) -> Path:
        return self.layout.home / "run" / "postgres"

    def _user(self) -> str | None:
        """initdb refuses root: run as `postgres` (Debian's package creates it) when we are root."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise MissingDependencyError(
                "running as root needs the `postgres` system user: run `apt-get install -y postgresql-15`"
            ) from exc
        return "postgres"

    def _owner(self) -> tuple[int, int] | None:
        user = self._user()
        if user is None:
            return None
        entry = pwd.getpwnam(user)
        return entry.pw_uid, entry.pw_gid

    def _chown(self, path: Path) -> None:
        owner = self._owner()
        if owner is not None:
            os.chown(path, *owner)

    def _secure_files(self) -> bool:
        """Socket folder 0700 and the safe pg_hba.conf (0600), both the server user's; True when the
        pg_hba.conf was rewritten (a running server must then reload it)."""
        private_dir(self.sockdir, owner=self._owner())
        if not (self.datadir / "PG_VERSION").is_file():
            return False
        return write_private(self.datadir / "pg_hba.conf", HBA, owner=self._owner())

    def _check_reachable(self) -> None:
        user = self._user()
        if user is None:
            return
        probe = subprocess.run(
            ["runuser", "-u", user, "--", "test", "-x", str(self.layout.home)],
            capture_output=True,
            check=False,
        )
        if probe.returncode != 0:
            raise StackError(
                f"the `{user}` user cannot reach {self.layout.home}: give its parent folders o+x "
                "or point AUTOMATE_HOME at a folder it can reach"
            )

    def prepare(self) -> None:
        bin_dir = find_pg_bin()
        self._secure_files()
        if (self.datadir / "PG_VERSION").is_file():
            return
        if self.datadir.exists() and any(self.datadir.iterdir()):
            raise StackError(
                f"{self.datadir} exists but is not a PostgreSQL data folder (corrupted?): "
                "remove it or run `automate down --purge`"
            )
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.datadir.chmod(0o700)
        self._chown(self.datadir)
        self._check_reachable()
        password = self.settings.postgres_password.get_secret_value()
        if not password or any(c in password for c in "\r\n\0"):
            raise StackError("AUTOMATE_POSTGRES_PASSWORD must be non-empty, on one line, without NUL "
                             "characters")
        pwfile = self.layout.home / "run" / "postgres.pw"
        pwfile.unlink(missing_ok=True)
        write_private(pwfile, password + "\n", owner=self._owner())  # 0600 from the first byte
        try:
            proc = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D", str(self.datadir),
                    "-U", self.settings.postgres_user,
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                capture_output=True,
                text=True,
                check=False,
                user=self._user(),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            shutil.rmtree(self.datadir, ignore_errors=True)
            raise StackError(f"initdb failed: {(proc.stdout + proc.stderr).strip()[-500:]}")
        self._secure_files()

    def launch(self) -> Launch:
        settings = [
            "listen_addresses=127.0.0.1",
            f"port={self.settings.postgres_port}",
            f"unix_socket_directories={self.sockdir}",
            "unix_socket_permissions=0700",
            "wal_level=logical",
            "max_wal_senders=10",
            "max_replication_slots=10",
            "max_connections=200",
            "shared_buffers=256MB",
            "logging_collector=off",
            "shared_preload_libraries=pg_stat_statements",  # per-query costs, for operators and benchmarks
        ]
        argv = [str(find_pg_bin() / "postgres"), "-D", str(self.datadir)]
        for item in settings:
            argv += ["-c", item]
        return Launch(argv=argv, user=self._user(), cwd=self.datadir)

    def _connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.settings.postgres_port,
            user=self.settings.postgres_user,
            password=self.settings.postgres_password.get_secret_value(),
            dbname=dbname,
            connect_timeout=2,
            autocommit=True,
        )

    def ready(self) -> bool:
        try:
            with self._connect() as conn:
                DatabaseAdmin(conn).ping()
        except psycopg.Error:
            return False
        return True

    def harden(self) -> str | None:
        """On a running server: the socket folder and pg_hba.conf as :meth:`prepare` makes them, and the
        configuration reloaded when pg_hba.conf changed (a data folder made with trust authentication)."""
        if not self._secure_files():
            return None
        with self._connect() as conn:
            admin = DatabaseAdmin(conn)
            admin.reload_config()
            unsafe = admin.unsafe_hba_rules()
        if unsafe:
            raise StackError(f"pg_hba.conf of {self.datadir} still has {unsafe} trust or invalid rule(s) "
                             "after the rewrite: check the file, or `automate down --purge` for a new one")
        return "pg_hba.conf rewritten without trust authentication (password logins only), reloaded"

    def configure(self) -> None:
        with self._connect() as conn:
            admin = DatabaseAdmin(conn)
            for db in (self.settings.postgres_db, *_DATABASES):
                if not admin.exists(db):
                    with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                        admin.create(db)
