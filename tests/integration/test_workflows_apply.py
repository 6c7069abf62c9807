"""Applying workflows on the real Postgres and Kafka: immutable versions, one live version, triggers, the
workflow topic, the config notification, and the ``automate workflows`` commands."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from click.testing import CliRunner

from automate.cli.workflows import workflows
from automate.config import Settings
from automate.runtime.workflows import WorkflowSpec, digest, validate
from automate.runtime.workflows.store import apply, get_workflow, list_workflows
from tests.support import assert_eventually

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "workflows" / "order-fulfilment.yaml"
KNOWN = {"core.transform", "http.request", "core.log"}


@pytest.fixture
def db_settings(db_settings: Settings) -> Settings:
    """As the operator of the example's tenant (a file naming another tenant than the operator's is
    refused)."""
    return Settings(**{**db_settings.model_dump(), "tenant": "acme"})


@pytest.fixture(autouse=True)
def hook_token(db_settings: Settings) -> None:
    """The example's step names $secret:HOOK_TOKEN: applying it needs the secret to exist."""
    from automate.secrets.admin import set_secret

    for tenant in ("acme", "globex", db_settings.tenant):
        set_secret(db_settings, "HOOK_TOKEN", "hook-token-value", tenant=tenant)


@pytest.fixture
def example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(data, dict)
    return data


def spec_of(data: dict[str, Any]) -> WorkflowSpec:
    return validate(data, KNOWN)


def topics(settings: Settings) -> set[str]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    return set(admin.list_topics(timeout=30).topics)


def versions(conn: psycopg.Connection[Any], slug: str) -> list[tuple[int, str, Any]]:
    return conn.execute(
        "SELECT w.version, w.digest, w.definition FROM workflow w "
        "JOIN automation a ON a.id = w.automation_id WHERE a.slug = %s ORDER BY w.version", (slug,)
    ).fetchall()


def triggers(conn: psycopg.Connection[Any], automation_id: str) -> list[tuple[str, Any]]:
    return conn.execute("SELECT event_pattern, rule FROM trigger WHERE automation_id = %s "
                        "ORDER BY created_at", (automation_id,)).fetchall()


# --- apply ----------------------------------------------------------------------------------------


def test_apply_creates_version_1_its_triggers_and_its_topic(db_settings: Settings,
                                                            example: dict[str, Any]) -> None:
    spec = spec_of(example)
    with psycopg.connect(db_settings.dsn) as conn:
        result = apply(conn, spec, db_settings)
        assert (result.slug, result.tenant, result.version, result.created) == (
            "order-fulfilment", "acme", 1, True)
        assert result.topic == db_settings.topic("workflow.order-fulfilment")
        row = conn.execute("SELECT tenant, name, enabled, live_version FROM automation WHERE id = %s",
                           (result.automation_id,)).fetchone()
        assert row == ("acme", "Order fulfilment", True, 1)
        [(version, stored_digest, definition)] = versions(conn, "order-fulfilment")
        assert version == 1 and stored_digest == digest(spec)
        assert WorkflowSpec.model_validate(definition) == spec
        assert triggers(conn, result.automation_id) == [("order.*", {">=": [{"var": "amount"}, 100]})]
        workflow_id = conn.execute("SELECT id::text FROM workflow WHERE automation_id = %s",
                                   (result.automation_id,)).fetchone()
        assert workflow_id == (result.workflow_id,)
    # A new topic reaches the broker's metadata a moment after CreateTopics returns.
    assert_eventually(lambda: result.topic in topics(db_settings), timeout=30, interval=0.2)


def test_apply_notifies_the_processors_only_on_change(db_settings: Settings, example: dict[str, Any]) -> None:
    with psycopg.connect(db_settings.dsn, autocommit=True) as listener, \
            psycopg.connect(db_settings.dsn) as conn:
        listener.execute("LISTEN automate_config")
        apply(conn, spec_of(example), db_settings)
        got = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
        assert got == ["order-fulfilment"]
        apply(conn, spec_of(example), db_settings)
        assert [n.payload for n in listener.notifies(timeout=1)] == []


def test_reapplying_the_same_definition_changes_nothing(
    db_settings: Settings, example: dict[str, Any]
) -> None:
    with psycopg.connect(db_settings.dsn) as conn:
        first = apply(conn, spec_of(example), db_settings)
        before = conn.execute("SELECT updated_at FROM automation").fetchall()
        trigger_ids = conn.execute("SELECT id FROM trigger ORDER BY id").fetchall()
        respelled = copy.deepcopy(example)
        respelled["steps"][1]["timeout"] = 30  # same value, other spelling
        again = apply(conn, spec_of(respelled), db_settings)
        assert (again.version, again.created) == (1, False)
        assert (again.automation_id, again.workflow_id) == (first.automation_id, first.workflow_id)
        assert len(versions(conn, "order-fulfilment")) == 1
        assert conn.execute("SELECT updated_at FROM automation").fetchall() == before
        assert conn.execute("SELECT id FROM trigger ORDER BY id").fetchall() == trigger_ids


def test_a_change_makes_version_2_live_and_keeps_version_1_intact(
    db_settings: Settings, example: dict[str, Any]
) -> None:
    with psycopg.connect(db_settings.dsn) as conn:
        v1 = apply(conn, spec_of(example), db_settings)
        [(_, digest_1, definition_1)] = versions(conn, "order-fulfilment")
        execution_id = str(uuid.uuid4())
        with conn.transaction():
            conn.execute("INSERT INTO execution (id, tenant, automation_id, workflow_id) "
                         "VALUES (%s, %s, %s, %s)", (execution_id, "acme", v1.automation_id, v1.workflow_id))

        changed = copy.deepcopy(example)
        changed["name"] = "Order fulfilment (v2)"
        changed["steps"][1]["input"]["url"] = "https://hooks.example.com/y"
        del changed["trigger"]
        changed["triggers"] = [{"event": "order.paid"}, {"event": "order.refunded", "rule": {"var": "full"}}]
        v2 = apply(conn, spec_of(changed), db_settings)

        assert (v2.version, v2.created, v2.automation_id) == (2, True, v1.automation_id)
        assert v2.workflow_id != v1.workflow_id
        stored = versions(conn, "order-fulfilment")
        assert [v for v, _, _ in stored] == [1, 2]
        assert stored[0][1:] == (digest_1, definition_1)  # version 1 untouched
        assert stored[1][2]["steps"][1]["input"]["url"] == "https://hooks.example.com/y"
        live = conn.execute("SELECT live_version, name FROM automation").fetchone()
        assert live == (2, "Order fulfilment (v2)")
        assert triggers(conn, v1.automation_id) == [("order.paid", None), ("order.refunded", {"var": "full"})]
        pinned = conn.execute("SELECT workflow_id::text FROM execution WHERE id = %s", (execution_id,))
        assert pinned.fetchone() == (v1.workflow_id,)

        found = get_workflow(conn, "order-fulfilment", "acme")
        assert found is not None
        automation, spec, version = found
        assert version == 2 and spec == spec_of(changed)
        assert automation.triggers == ["order.paid", "order.refunded"]

        again_v1 = apply(conn, spec_of(example), db_settings)  # going back is a new version, too
        assert (again_v1.version, again_v1.created) == (3, True)


def test_the_tenant_is_the_operators(db_settings: Settings, example: dict[str, Any]) -> None:
    from automate.errors import TenantMismatch

    del example["tenant"]
    with psycopg.connect(db_settings.dsn) as conn:
        result = apply(conn, spec_of(example), db_settings)
        assert result.tenant == db_settings.tenant
        [(_, _, definition)] = versions(conn, "order-fulfilment")
        assert definition["tenant"] == db_settings.tenant
        explicit = apply(conn, spec_of({**example, "tenant": db_settings.tenant}), db_settings)
        assert (explicit.version, explicit.created) == (1, False)
        with pytest.raises(TenantMismatch, match="names tenant 'globex'"):
            apply(conn, spec_of({**example, "slug": "billing", "tenant": "globex"}), db_settings)
        other = apply(conn, spec_of({**example, "slug": "billing", "tenant": "globex"}), db_settings,
                      tenant_from_file=True)
        assert (other.tenant, other.version, other.created) == ("globex", 1, True)
        assert other.automation_id != result.automation_id
        listed = list_workflows(conn)
        assert [(s.tenant, s.slug, s.live_version) for s in listed] == [
            (db_settings.tenant, "order-fulfilment", 1), ("globex", "billing", 1)]
        assert [s.tenant for s in list_workflows(conn, "globex")] == ["globex"]
        assert get_workflow(conn, "order-fulfilment", "nobody") is None


def test_concurrent_applies_of_one_new_slug_number_versions_without_clashes(
    db_settings: Settings, example: dict[str, Any]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def apply_variant(i: int) -> int:
        data = copy.deepcopy(example)
        data["steps"][1]["input"]["url"] = f"https://hooks.example.com/{i}"
        with psycopg.connect(db_settings.dsn) as conn:
            return apply(conn, spec_of(data), db_settings).version

    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = sorted(pool.map(apply_variant, range(8)))
    assert numbers == list(range(1, 9))
    with psycopg.connect(db_settings.dsn) as conn:
        assert conn.execute("SELECT count(*), max(live_version) FROM automation").fetchone() == (1, 8)


def test_an_unreachable_kafka_is_a_clear_error_after_the_version_is_stored(
    db_settings: Settings, example: dict[str, Any]
) -> None:
    from automate.errors import AutomateError

    offline = Settings(**{**db_settings.model_dump(), "kafka_bootstrap": "127.0.0.1:1"})
    with psycopg.connect(db_settings.dsn) as conn:
        with pytest.raises(AutomateError, match="is stored and live, but its topic") as caught:
            apply(conn, spec_of(example), offline, topic_timeout=2)
        assert caught.value.code == "workflow.topic" and caught.value.retryable
        assert [v for v, _, _ in versions(conn, "order-fulfilment")] == [1]


# --- the commands ---------------------------------------------------------------------------------


def invoke(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(workflows, list(args), obj=settings, catch_exceptions=False)


def test_cli_apply_list_and_show(db_settings: Settings, tmp_path: Path, example: dict[str, Any]) -> None:
    first = invoke(db_settings, "apply", "-f", str(EXAMPLE))
    assert first.exit_code == 0, first.output
    assert "acme/order-fulfilment: version 1 created" in first.stdout

    again = invoke(db_settings, "apply", "-f", str(EXAMPLE))
    assert again.exit_code == 0 and "acme/order-fulfilment: version 1 unchanged" in again.stdout

    (tmp_path / "b.json").write_text(json.dumps({**example, "slug": "billing", "tenant": "acme"}))
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({**example, "slug": "alerts"}))
    both = invoke(db_settings, "apply", "-f", str(tmp_path), "-f", str(EXAMPLE))
    assert both.exit_code == 0, both.output
    assert both.stdout.splitlines()[:3] == [
        f"acme/alerts: version 1 created ({tmp_path / 'a.yaml'})",
        f"acme/billing: version 1 created ({tmp_path / 'b.json'})",
        f"acme/order-fulfilment: version 1 unchanged ({EXAMPLE})",
    ]

    listed = invoke(db_settings, "list", "--json")
    assert listed.exit_code == 0
    assert [(w["slug"], w["tenant"], w["live_version"], w["enabled"], w["triggers"])
            for w in json.loads(listed.stdout)] == [
        ("alerts", "acme", 1, True, ["order.*"]), ("billing", "acme", 1, True, ["order.*"]),
        ("order-fulfilment", "acme", 1, True, ["order.*"])]
    table = invoke(db_settings, "list")
    assert table.exit_code == 0 and "billing" in table.stdout and "order.*" in table.stdout

    shown = invoke(db_settings, "show", "order-fulfilment", "--tenant", "acme", "--json")
    assert shown.exit_code == 0
    info = json.loads(shown.stdout)
    assert (info["live_version"], info["name"], info["triggers"]) == (1, "Order fulfilment", ["order.*"])
    assert WorkflowSpec.model_validate(info["definition"]) == spec_of(example)

    text = invoke(db_settings, "show", "order-fulfilment", "--tenant", "acme")
    assert text.exit_code == 0
    assert "live_version:  1" in text.stdout
    assert yaml.safe_load(text.stdout.split("---\n", 1)[1])["steps"][1]["timeout"] == 30.0

    missing = invoke(db_settings, "show", "order-fulfilment", "--tenant", "globex")  # globex has none
    assert missing.exit_code == 1 and "no workflow 'order-fulfilment'" in missing.stderr


def test_cli_apply_refuses_all_files_when_one_is_invalid(
    db_settings: Settings, tmp_path: Path, example: dict[str, Any]
) -> None:
    (tmp_path / "good.yaml").write_text(yaml.safe_dump({**example, "slug": "good"}))
    bad = copy.deepcopy(example)
    bad["steps"][1]["needs"] = ["shap"]
    bad["steps"][1]["action"] = "http.nope"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = invoke(db_settings, "apply", "-f", str(tmp_path))
    assert result.exit_code == 1
    assert f"{tmp_path / 'bad.yaml'}: invalid" in result.stderr
    assert "  $.steps[1].action: unknown action 'http.nope'" in result.stderr
    assert "  $.steps[1].needs[0]: unknown step 'shap'; did you mean 'shape'?" in result.stderr
    assert "1 of 2 workflow file(s) invalid; nothing was applied" in result.stderr
    with psycopg.connect(db_settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM automation").fetchone() == (0,)


def test_cli_apply_refuses_one_slug_defined_twice(db_settings: Settings, tmp_path: Path) -> None:
    for name in ("one.yaml", "two.yaml"):
        (tmp_path / name).write_text(EXAMPLE.read_text())
    result = invoke(db_settings, "apply", "-f", str(tmp_path))
    assert result.exit_code == 1
    assert f"$.slug: acme/order-fulfilment is also defined by {tmp_path / 'one.yaml'}" in result.stderr


def test_the_automate_command_applies_lists_and_shows(db_settings: Settings) -> None:
    env = {**os.environ, "AUTOMATE_DATABASE_URL": db_settings.dsn,
           "AUTOMATE_TOPIC_PREFIX": db_settings.topic_prefix, "AUTOMATE_TENANT": "globex"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "automate.cli", "workflows", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    refused = run("apply", "-f", str(EXAMPLE))  # the file names acme, the operator is globex
    said = " ".join(refused.stderr.split())
    assert refused.returncode == 1, said
    assert "$.tenant: workflow 'order-fulfilment' names tenant 'acme'" in said, said
    applied = run("apply", "-f", str(EXAMPLE), "--tenant", "acme")
    assert applied.returncode == 0, applied.stderr
    assert "acme/order-fulfilment: version 1 created" in applied.stdout
    assert_eventually(lambda: db_settings.topic("workflow.order-fulfilment") in topics(db_settings),
                      timeout=30, interval=0.2)
    listed = run("list", "--tenant", "acme", "--json")
    assert [w["slug"] for w in json.loads(listed.stdout)] == ["order-fulfilment"]
    shown = run("show", "order-fulfilment", "--tenant", "acme", "--json")
    assert json.loads(shown.stdout)["definition"]["steps"][0]["id"] == "shape"
    unknown = run("show", "nope", "--tenant", "acme")
    assert unknown.returncode == 1 and "no workflow 'nope'" in unknown.stderr
