"""Apicurio Registry 3 (its runnable Quarkus app from Maven Central), storing schemas in Postgres,
serving the Confluent-compatible API at ``/apis/ccompat/v7``."""

from __future__ import annotations

from automate.stack.base import Launch, Service, find_java, http_json, http_ok, infra_dir, materialize

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
        return (self.settings.registry_port,)

    def prepare(self) -> None:
        find_java(17, self.settings.java_home)
        lib = self.layout.lib(self.name)
        materialize(
            infra_dir() / "registry" / "pom.xml",
            lib,
            goal=["dependency:unpack", "-Dregistry.dir={dest}"],
        )

    def launch(self) -> Launch:
        s = self.settings
        env = {
            "APICURIO_STORAGE_KIND": "sql",
            "APICURIO_STORAGE_SQL_KIND": "postgresql",
            "APICURIO_DATASOURCE_URL": f"jdbc:postgresql://127.0.0.1:{s.postgres_port}/apicurio",
            "APICURIO_DATASOURCE_USERNAME": s.postgres_user,
            "APICURIO_DATASOURCE_PASSWORD": s.postgres_password.get_secret_value(),
            "QUARKUS_HTTP_HOST": "127.0.0.1",
            "QUARKUS_HTTP_PORT": str(s.registry_port),
        }
        app = self.layout.lib(self.name)
        return Launch(
            argv=[str(find_java(17, s.java_home)), "-Xmx384m", "-XX:+UseSerialGC", "-jar",
                  str(app / "quarkus-run.jar")],
            env=env,
            cwd=app,
        )

    def ready(self) -> bool:
        return http_ok(f"{self.url}/subjects")

    def configure(self) -> None:
        http_json("PUT", f"{self.url}/config", {"compatibility": "BACKWARD"})
