"""Prometheus from Debian's packages, scraping the project's `/metrics` endpoints.

Workers add themselves to a file_sd targets file, so a new worker is scraped without a restart.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from automate.errors import MissingDependencyError
from automate.stack.base import Launch, Service, http_ok, infra_dir, render

__all__ = ["Prometheus"]


class Prometheus(Service):
    name = "prometheus"

    @property
    def external(self) -> bool:
        return self.settings.prometheus_url is not None

    @property
    def url(self) -> str:
        return self.settings.prometheus_base_url

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.prometheus_port,)

    @property
    def targets_file(self) -> Path:
        return self.layout.conf(self.name) / "targets.json"

    def _binary(self) -> str:
        found = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").is_file()
                                                else None)
        if found is None:
            raise MissingDependencyError("Prometheus not found: run `apt-get install -y prometheus`")
        return found

    def prepare(self) -> None:
        self._binary()
        conf = self.layout.conf(self.name)
        conf.mkdir(parents=True, exist_ok=True)
        if not self.targets_file.exists():
            self.targets_file.write_text(json.dumps([]))
        render(
            infra_dir() / "prometheus" / "prometheus.yml.tmpl",
            conf / "prometheus.yml",
            {
                "targets_file": self.targets_file,
                "listen_address": f"127.0.0.1:{self.settings.prometheus_port}",
            },
        )

    def launch(self) -> Launch:
        return Launch(
            argv=[
                self._binary(),
                f"--config.file={self.layout.conf(self.name) / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.layout.data(self.name)}",
                "--storage.tsdb.retention.time=2d",
                f"--web.listen-address=127.0.0.1:{self.settings.prometheus_port}",
                "--web.enable-lifecycle",
            ]
        )

    def ready(self) -> bool:
        return http_ok(f"{self.url}/-/ready")
