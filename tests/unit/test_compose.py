"""docker-compose.kafka.yml and the Dockerfile, checked without Docker (none runs here): the compose file
against the Compose Specification's JSON schema (tests/data/compose-spec, its source noted there), every
file it mounts or builds from present, each worker's command one the CLI accepts, its settings real
settings, and its Prometheus, Grafana and Connect configured from the files `automate up` uses."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

from automate.cli.main import cli
from automate.config import Settings
from automate.dashboards import DASHBOARDS
from automate.stack.credentials import PASSWORD_KEY

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.kafka.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
WORKERS = {name: s for name, s in SERVICES.items() if s.get("image") == "automate:local"}


def _unescaped(text: str) -> str:
    """A compose value as the container sees it (``$$`` is a literal ``$``; no ``${VAR}`` used here)."""
    return text.replace("$$", "$")


def test_the_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads((ROOT / "tests/data/compose-spec/compose-spec.json").read_text())
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in jsonschema.Draft7Validator(schema).iter_errors(COMPOSE)]
    assert errors == []


def test_every_file_it_mounts_or_builds_from_exists() -> None:
    sources = []
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./"), f"{volume}: only files of the repository are mounted"
            sources.append(source)
        build = service.get("build")
        if build:
            assert (ROOT / build["context"]).is_dir()
            sources.append(str(Path(build["context"]) / build["dockerfile"]))
    sources += [secret["file"] for secret in COMPOSE["secrets"].values()]
    assert len(sources) >= 7
    missing = [s for s in sources if not (ROOT / s).exists()]
    assert missing == []


def test_the_dockerfile_copies_only_what_exists_and_installs_the_workers() -> None:
    text = (ROOT / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M)
    assert copies
    for sources in copies:
        for source in sources.split():
            assert (ROOT / source).exists(), source
    # every package folder the wheel is built from is copied (pyproject's hatch sources)
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r'^only-include = \[(.+)\]', pyproject, re.M)
    assert packages is not None
    copied = {s for sources in copies for s in sources.split()}
    assert set(re.findall(r'"(\w+)"', packages[1])) | {"schemas", "infra"} <= copied
    assert '"automate[runtime] @ file://' in text  # the extra with every worker's dependencies
    assert re.search(r"^ENTRYPOINT \[\"automate\"\]$", text, re.M)


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_each_worker_runs_a_command_the_cli_accepts(name: str) -> None:
    args = list(WORKERS[name]["command"])
    ctx = cli.make_context("automate", list(args))
    found_name, command, rest = cli.resolve_command(ctx, args)
    assert found_name == args[0] and command is not None
    with command.make_context(found_name, rest, parent=ctx) as sub:  # raises on an unknown option
        if "--metrics-port" in args:
            assert sub.params["metrics_port"] == 9464


def test_the_workers_settings_are_automate_settings() -> None:
    fields = set(Settings.model_fields)
    for name, worker in WORKERS.items():
        for variable in worker["environment"]:
            if variable.startswith("AUTOMATE_"):
                assert variable.removeprefix("AUTOMATE_").lower() in fields, (name, variable)
        if name != "migrate":
            assert worker["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
            assert "build" not in worker and worker["pull_policy"] == "never"  # (the image migrate builds)


def test_migrate_runs_first_and_waits_for_the_services_it_needs() -> None:
    migrate = WORKERS["migrate"]
    assert migrate["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    # PostgreSQL and Kafka have health checks of their images' own tools; the registry and Connect are
    # waited for by `migrate --wait` (their images' tools are not known here)
    assert {s: d["condition"] for s, d in migrate["depends_on"].items()} == {
        "postgres": "service_healthy", "kafka": "service_healthy", "connect": "service_started",
        "registry": "service_started"}
    assert all("healthcheck" in SERVICES[s] for s in ("postgres", "kafka"))
    args = migrate["command"]
    assert args[:2] == ["migrate", "--wait"] and float(args[2]) >= 60


def test_prometheus_renders_the_template_of_automate_up_and_scrapes_every_worker() -> None:
    service = SERVICES["prometheus"]
    command = _unescaped(service["command"][0])
    template = (ROOT / "infra/prometheus/prometheus.yml.tmpl").read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", template))
    filled = dict(re.findall(r"s\|\[\$\]\{(\w+)\}\|([^|]*)\|", command))
    assert set(filled) == placeholders
    config = yaml.safe_load(string.Template(template).substitute(filled))
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    files = [f for job in config["scrape_configs"] for sd in job.get("file_sd_configs", [])
             for f in sd["files"]]
    assert files == ["/etc/automate/targets.json"]
    targets = json.loads((ROOT / mounts[files[0]].removeprefix("./")).read_text())
    scraped = {t.split(":")[0]: int(t.split(":")[1]) for group in targets for t in group["targets"]}
    exporters = {name for name, w in WORKERS.items() if "--metrics-port" in w["command"]}
    assert scraped == {name: 9464 for name in exporters}
    jobs = {group["targets"][0].split(":")[0]: group["labels"]["job"] for group in targets}
    assert jobs["runtime"] == "automate-runtime" and jobs["relay"] == "automate-relay"


def test_grafana_is_provisioned_with_the_prometheus_and_every_dashboard() -> None:
    service = SERVICES["grafana"]
    mounts = {v.split(":")[0].removeprefix("./"): v.split(":")[1] for v in service["volumes"]}
    provisioning = ROOT / "infra/grafana/provisioning"
    assert mounts["infra/grafana/provisioning"] == "/etc/grafana/provisioning"
    datasources = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"]
    assert [(d["type"], d["url"], d["isDefault"]) for d in datasources] == [
        ("prometheus", "http://prometheus:9090", True)]
    providers = yaml.safe_load((provisioning / "dashboards/automate.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == [mounts["infra/grafana/dashboards"]]
    files = {p.name for p in (ROOT / "infra/grafana/dashboards").glob("*.json")}
    assert files == {f"{d.uid}.json" for d in DASHBOARDS}
    home = service["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).name in files and str(Path(home).parent) == mounts["infra/grafana/dashboards"]


def test_connect_is_configured_as_the_local_worker_and_reads_the_password_from_a_secret() -> None:
    service = SERVICES["connect"]
    standalone = (ROOT / "infra/connect/connect-standalone.properties.tmpl").read_text()
    properties = dict(re.findall(r"^([a-z][\w.]*)=(.*)$", standalone, re.M))
    for variable, value in service["environment"].items():
        if variable.startswith("CONNECT_"):
            key = variable.removeprefix("CONNECT_").lower().replace("_", ".")
            assert key in properties, variable
            if "${" not in properties[key]:
                assert str(value) == properties[key], variable
    placeholder = _unescaped(WORKERS["migrate"]["environment"]["AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER"])
    match = re.fullmatch(r"\$\{file:(/run/secrets/([\w-]+)):(.+)\}", placeholder)
    assert match is not None, placeholder
    path, secret, key = match.groups()
    assert secret in service["secrets"] and key == PASSWORD_KEY
    assert path.startswith(service["environment"]["CONNECT_CONFIG_PROVIDERS_FILE_PARAM_ALLOWED_PATHS"])
    secret_file = ROOT / COMPOSE["secrets"][secret]["file"]
    assert f"{PASSWORD_KEY}={SERVICES['postgres']['environment']['POSTGRES_PASSWORD']}" in (
        secret_file.read_text().splitlines())


def test_the_relay_runs_only_when_chosen() -> None:
    assert WORKERS["relay"]["profiles"] == ["relay"]
    assert all("profiles" not in w for name, w in WORKERS.items() if name != "relay")


def test_the_command_check_catches_an_option_the_cli_does_not_have() -> None:
    ctx = cli.make_context("automate", ["runtime"])
    command = cli.get_command(ctx, "runtime")
    assert command is not None
    with pytest.raises(click.NoSuchOption):
        command.make_context("runtime", ["--metrics-prot", "9464"], parent=ctx)
