"""Apache Kafka 4.3, single-node KRaft (combined broker and controller), jars from Maven Central.

With ``AUTOMATE_KAFKA_LOCAL_AUTH=scram`` the client listener takes SASL/SCRAM-SHA-512 only, the
StandardAuthorizer refuses what no ACL allows, and ``automate up`` grants the ``automate`` user the
topics and consumer groups of the deployment (docs/pipeline.md, "Kafka security").
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path
from string import Template

from automate.errors import StackError
from automate.kafka_security import (
    LOCAL_ADMIN,
    LOCAL_MECHANISM,
    LOCAL_USER,
    create_local_credentials,
    local_credentials_file,
    scram_credential_argument,
)
from automate.stack.base import Launch, Service, find_java, infra_dir, jvm_opts, materialize, render

__all__ = ["Kafka"]


class Kafka(Service):
    name = "kafka"

    @property
    def external(self) -> bool:
        return self.settings.kafka_bootstrap is not None

    @property
    def url(self) -> str:
        return self.settings.bootstrap_servers

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.kafka_port, self.settings.kafka_controller_port)

    @property
    def _props(self) -> Path:
        return self.layout.conf(self.name) / "server.properties"

    def _classpath(self) -> str:
        return f"{self.layout.lib(self.name)}/*"

    def _java(self) -> str:
        return str(find_java(17, self.settings.java_home))

    @property
    def _scram(self) -> bool:
        return self.settings.kafka_local_auth == "scram"

    def _check_mode(self, formatted: bool) -> None:
        """A broker stays in the mode its storage was formatted in: never silently open (no listener
        without SASL, no ACLs) once it had SCRAM users, nor in SCRAM mode without them."""
        scram_users = local_credentials_file(self.settings).is_file()
        if self._scram and formatted and not scram_users:
            raise StackError("the local Kafka was formatted without SCRAM users; to switch it to "
                             "AUTOMATE_KAFKA_LOCAL_AUTH=scram, delete its data: `automate down --purge`")
        if not self._scram and scram_users:
            raise StackError("the local Kafka was set up with SCRAM users and ACLs: set "
                             "AUTOMATE_KAFKA_LOCAL_AUTH=scram, or delete its data to run it without "
                             "authentication: `automate down --purge`")

    def prepare(self) -> None:
        data = self.layout.data(self.name)
        formatted = (data / "meta.properties").is_file()
        self._check_mode(formatted)
        java = self._java()
        materialize(infra_dir() / "kafka" / "pom.xml", self.layout.lib(self.name))
        protocol, security, scram_args = "PLAINTEXT", "", []
        if self._scram:
            creds = create_local_credentials(self.settings)
            protocol = "SASL_PLAINTEXT"
            security = Template((infra_dir() / "kafka" / "scram.properties.tmpl").read_text()).substitute(
                admin_password=creds.admin_password)
            scram_args = [f"--add-scram={scram_credential_argument(LOCAL_MECHANISM, user, password)}"
                          for user, password in ((LOCAL_ADMIN, creds.admin_password),
                                                 (LOCAL_USER, creds.user_password))]
            # The broker's own password is in the file: its owner only, before anything is written.
            self._props.parent.mkdir(parents=True, exist_ok=True)
            self._props.touch(mode=0o600)
            self._props.chmod(0o600)
        render(
            infra_dir() / "kafka" / "server.properties.tmpl",
            self._props,
            {
                "node_id": 1,
                "host": "127.0.0.1",
                "broker_port": self.settings.kafka_port,
                "controller_port": self.settings.kafka_controller_port,
                "log_dirs": data,
                "num_partitions": 6,
                "client_protocol": protocol,
                "controller_protocol": protocol,
                "security": security,
            },
        )
        if formatted:
            return
        cluster_id = "-"
        while cluster_id.startswith("-"):  # would read as an option (Kafka's own ids avoid it too)
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        proc = subprocess.run(
            [java, *self._log_opts(), "-cp", self._classpath(), "kafka.tools.StorageTool", "format",
             "--standalone", f"--cluster-id={cluster_id}", "--config", str(self._props), *scram_args],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise StackError(f"kafka storage format failed: {(proc.stdout + proc.stderr).strip()[-600:]}")

    def _log_opts(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={infra_dir() / 'kafka' / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={self.layout.home / 'logs'}",
            "-Dkafka.log.name=kafka-server",
        ]

    def launch(self) -> Launch:
        return Launch(
            argv=[self._java(), *jvm_opts(Path(self._java()), "768m", self.layout.cache("kafka.jsa")),
                  *self._log_opts(), "-cp", self._classpath(),
                  "kafka.Kafka", str(self._props)]
        )

    def ready(self) -> bool:
        from automate.transport import broker_ready

        if self._scram and not local_credentials_file(self.settings).is_file():
            return False  # not formatted in SCRAM mode (yet): no client of it could log in
        return broker_ready(self.url, settings=self.settings)

    def configure(self) -> None:
        """In SCRAM mode: allow the ``automate`` user every operation on the topics and consumer groups
        that start with the topic prefix, on Debezium's heartbeat topic (``__debezium-heartbeat.<prefix>``)
        and on the groups of the project's own readers (``automate-``); nothing else (idempotent: an ACL
        that exists is left as it is)."""
        if self._scram:
            from automate.transport import allow_prefixed

            prefix = self.settings.topic_prefix
            allow_prefixed(self.settings, f"User:{LOCAL_USER}",
                           topics=[prefix, f"__debezium-heartbeat.{prefix}"], groups=[prefix, "automate-"])
