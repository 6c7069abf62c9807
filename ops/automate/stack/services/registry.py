"""Apicurio Registry 3 (its runnable Quarkus app, the release tar.gz on Maven Central), storing schemas
in Postgres, serving the Confluent-compatible API at ``/apis/ccompat/v7``. It needs Java 21+."""

from __future__ import annotations

from pathlib import Path

from automate.stack.base import (
    Launch,
    Service,
    find_java,
    http_json,
    http_ok,
    infra_dir,
    jvm_opts,
    materialize,
)

__all__ = ["Registry"]


class Registry(Service):
    name = "registry"
    requires = ("postgres",)

    @property
    def external(self) -> bool:
        return self.settings.schema_registry_url is not None

    @property
    def url(self) -> str:
        return self.settings.registry_url

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.registry_port, self.settings.registry_management_port)

    def _java(self) -> str:
        return str(find_java(21, self.settings.java_home))

    def prepare(self) -> None:
        self._java()
        materialize(
            infra_dir() / "registry" / "pom.xml",
            self.layout.lib(self.name),
            goal=["dependency:unpack", "-Dregistry.dir={dest}"],
        )

    def launch(self) -> Launch:
        s = self.settings
        env = {
            "APICURIO_STORAGE_KIND": "sql",
            "APICURIO_STORAGE_SQL_KIND": "postgresql",  # the default, h2, keeps everything in memory
            "APICURIO_DATASOURCE_URL": f"jdbc:postgresql://127.0.0.1:{s.postgres_port}/apicurio",
            "APICURIO_DATASOURCE_USERNAME": s.postgres_user,
            "APICURIO_DATASOURCE_PASSWORD": s.postgres_password.get_secret_value(),
            "APICURIO_DATASOURCE_JDBC_INITIAL_SIZE": "2",
            "APICURIO_DATASOURCE_JDBC_MIN_SIZE": "2",
            "APICURIO_DATASOURCE_JDBC_MAX_SIZE": "10",
            # Schema ids are content ids: the same schema always has the same id, under any subject.
            "APICURIO_CCOMPAT_LEGACY_ID_MODE_ENABLED": "false",
            "QUARKUS_HTTP_HOST": "127.0.0.1",
            "QUARKUS_HTTP_PORT": str(s.registry_port),
            "QUARKUS_MANAGEMENT_HOST": "127.0.0.1",
            "QUARKUS_MANAGEMENT_PORT": str(s.registry_management_port),
            "QUARKUS_HTTP_ACCESS_LOG_ENABLED": "false",
            "QUARKUS_LOG_CATEGORY__IO_APICURIO_REGISTRY_LOGGING_AUDIT__LEVEL": "WARN",
        }
        app = self.layout.lib(self.name)
        java = Path(self._java())
        return Launch(
            argv=[str(java), *jvm_opts(java, "256m", self.layout.cache("registry.jsa")),
                  "-XX:TieredStopAtLevel=1", "-jar", str(app / "quarkus-run.jar")],
            env=env,
            cwd=app,
        )

    def ready(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.settings.registry_management_port}/health/ready")

    def configure(self) -> None:
        # Apicurio's global default is NONE; the contracts promise BACKWARD.
        http_json("PUT", f"{self.url}/config", {"compatibility": "BACKWARD"})
