"""Apache Kafka 4.3, single-node KRaft (combined broker and controller), jars from Maven Central."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from automate.errors import StackError
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

    def prepare(self) -> None:
        java = self._java()
        materialize(infra_dir() / "kafka" / "pom.xml", self.layout.lib(self.name))
        data = self.layout.data(self.name)
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
            },
        )
        if (data / "meta.properties").is_file():
            return
        cluster_id = "-"
        while cluster_id.startswith("-"):  # would read as an option (Kafka's own ids avoid it too)
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        proc = subprocess.run(
            [java, *self._log_opts(), "-cp", self._classpath(), "kafka.tools.StorageTool", "format",
             "--standalone", f"--cluster-id={cluster_id}", "--config", str(self._props)],
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

        return broker_ready(self.url)
