"""Kafka Connect 4.3 standalone with the Debezium 3.6 Postgres connector, jars from Maven Central."""

from __future__ import annotations

from pathlib import Path

from automate.stack.base import Launch, Service, find_java, http_ok, infra_dir, jvm_opts, materialize, render
from automate.stack.credentials import connect_secrets_dir, has_file_provider, private_dir

__all__ = ["Connect"]


class Connect(Service):
    name = "connect"
    requires = ("kafka", "postgres")

    @property
    def external(self) -> bool:
        return self.settings.connect_url is not None

    @property
    def url(self) -> str:
        return self.settings.connect_base_url

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.connect_port,)

    @property
    def _props(self) -> Path:
        return self.layout.conf(self.name) / "connect-standalone.properties"

    def prepare(self) -> None:
        from automate.kafka_security import java_properties

        find_java(17, self.settings.java_home)
        materialize(infra_dir() / "connect" / "pom.xml", self.layout.lib(self.name))
        data = self.layout.data(self.name)
        data.mkdir(parents=True, exist_ok=True)
        security = java_properties(self.settings)
        self._props.parent.mkdir(parents=True, exist_ok=True)
        self._props.touch(mode=0o600)
        self._props.chmod(0o600)  # a SASL password or a client key may be in it
        render(
            infra_dir() / "connect" / "connect-standalone.properties.tmpl",
            self._props,
            {
                "bootstrap_servers": self.settings.bootstrap_servers,
                "rest_host": "127.0.0.1",
                "rest_port": self.settings.connect_port,
                "offsets_file": data / "offsets.dat",
                # The FileConfigProvider's only folder: the outbox connector's password (automate.stack.cdc).
                "secrets_dir": private_dir(connect_secrets_dir(self.layout)),
                "client_security": "\n".join(
                    f"{prefix}{key}={_escaped(value)}" for prefix in ("", "producer.", "consumer.", "admin.")
                    for key, value in security.items()),
            },
        )

    def launch(self) -> Launch:
        java = find_java(17, self.settings.java_home)
        return Launch(
            argv=[
                str(java),
                *jvm_opts(java, "512m", self.layout.cache("connect.jsa")),
                f"-Dlog4j2.configurationFile={infra_dir() / 'connect' / 'log4j2.yaml'}",
                f"-Dkafka.logs.dir={self.layout.home / 'logs'}",
                "-Dkafka.log.name=connect-worker",
                "-cp", f"{self.layout.lib(self.name)}/*",
                "org.apache.kafka.connect.cli.ConnectStandalone",
                str(self._props),
            ]
        )

    def harden(self) -> str | None:
        if has_file_provider(self.layout):
            return None
        return ("was started without the config provider that keeps the database password out of the "
                "connector's configuration (an older version): run `automate down connect && automate up "
                "connect`")

    def ready(self) -> bool:
        # `GET /` answers before the REST resources do; /health only once the worker is up.
        return http_ok(f"{self.url}/health")

    def configure(self) -> None:
        """Connectors created over REST do not survive a standalone worker's restart: register the
        outbox connector again (from its offsets, nothing is lost) once the outbox table exists."""
        import psycopg

        from automate.db import applied_versions, connect
        from automate.stack.cdc import ensure_outbox_connector

        try:
            with connect(self.settings, connect_timeout=5) as conn:
                migrated = bool(applied_versions(conn))
        except psycopg.Error:
            return  # no database yet: `automate migrate` registers it
        if migrated:
            ensure_outbox_connector(self.settings)


def _escaped(value: str) -> str:
    """A Java properties value: backslashes and line breaks escaped (PEM blocks span lines)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")
