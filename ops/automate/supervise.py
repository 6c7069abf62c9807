"""Running the pipeline's workers as processes of their own: the demo, the end-to-end benchmark and the
chaos suite start, kill and restart them through :class:`WorkerSet`.

Each worker is ``python -m automate.cli <kind>`` with the settings passed in its environment, its output
in ``<log_dir>/<kind>-<n>.log``. The relay runs only when the deployment publishes through it; with
Debezium (Connect is the publisher and belongs to the stack) the publisher watch runs instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from automate.config import Settings

__all__ = ["KINDS", "WorkerSet", "settings_env"]

KINDS: Final = ("relay", "publisher-watch", "processors", "runtime", "retry-worker")


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that give a child process the same settings."""
    env = {
        "AUTOMATE_HOME": str(settings.home),
        "AUTOMATE_DATABASE_URL": settings.dsn,
        "AUTOMATE_KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "AUTOMATE_SCHEMA_REGISTRY_URL": settings.registry_url,
        "AUTOMATE_TOPIC_PREFIX": settings.topic_prefix,
        "AUTOMATE_PUBLISHER": settings.publisher,
        "AUTOMATE_TENANT": settings.tenant,
        "AUTOMATE_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "AUTOMATE_HTTP_ALLOWLIST": json.dumps(list(settings.http_allowlist)),
        "AUTOMATE_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "AUTOMATE_KAFKA_LOCAL_AUTH": settings.kafka_local_auth,
    }
    # How the workers authenticate to Kafka (the local SCRAM stack's credentials they read from its home).
    optional = {
        "AUTOMATE_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "AUTOMATE_KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "AUTOMATE_KAFKA_SASL_PASSWORD": settings.kafka_sasl_password,
        "AUTOMATE_KAFKA_SSL_CA_LOCATION": settings.kafka_ssl_ca_location,
        "AUTOMATE_KAFKA_SSL_CERTIFICATE_LOCATION": settings.kafka_ssl_certificate_location,
        "AUTOMATE_KAFKA_SSL_KEY_LOCATION": settings.kafka_ssl_key_location,
        "AUTOMATE_KAFKA_SSL_KEY_PASSWORD": settings.kafka_ssl_key_password,
    }
    for name, value in optional.items():
        if value is not None:
            env[name] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return env


@dataclass
class WorkerSet:
    """The pipeline's worker processes for ``settings``; ``counts`` says how many of each kind."""

    settings: Settings
    log_dir: Path
    counts: dict[str, int] = field(default_factory=dict)
    procs: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)

    def kinds(self) -> list[str]:
        publisher = {"relay": "relay", "publisher-watch": "debezium"}
        wanted = [k for k in KINDS if publisher.get(k, self.settings.publisher) == self.settings.publisher]
        return [k for k in wanted if self.counts.get(k, 1) > 0]

    def _spawn(self, kind: str, n: int) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMATE_")}
        env.update(settings_env(self.settings))
        with open(self.log_dir / f"{kind}-{n}.log", "ab") as out:
            return subprocess.Popen([sys.executable, "-m", "automate.cli", kind], env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> WorkerSet:
        for kind in self.kinds():
            self.procs[kind] = [self._spawn(kind, n) for n in range(self.counts.get(kind, 1))]
        return self

    def kill(self, kind: str, index: int = 0, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[kind][index]
        proc.send_signal(sig)
        proc.wait(30)

    def restart(self, kind: str, index: int = 0, sig: int = signal.SIGKILL) -> None:
        """Kill worker ``kind`` #``index`` (kill -9 by default) and start a new one in its place."""
        self.kill(kind, index, sig)
        self.procs[kind][index] = self._spawn(kind, index)
        self.restarts[kind] = self.restarts.get(kind, 0) + 1

    def dead(self) -> list[str]:
        """Workers that exited on their own (a failure: they run until stopped)."""
        return [f"{kind}-{i} (exit {p.returncode})" for kind, procs in self.procs.items()
                for i, p in enumerate(procs) if p.poll() is not None]

    def revive(self) -> list[str]:
        """Start a new process in place of each one that exited (what systemd or Kubernetes would do);
        returns the workers revived."""
        revived = []
        for kind, procs in self.procs.items():
            for i, proc in enumerate(procs):
                if proc.poll() is not None:
                    revived.append(f"{kind}-{i} (exit {proc.returncode})")
                    procs[i] = self._spawn(kind, i)
                    self.restarts[kind] = self.restarts.get(kind, 0) + 1
        return revived

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every worker (they finish what they hold), SIGKILL what is still there at ``timeout``."""
        every = [p for procs in self.procs.values() for p in procs if p.poll() is None]
        for proc in every:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in every:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def __enter__(self) -> WorkerSet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
