"""Tenant boundaries on the real stack: whose a workflow is when applied, one tenant per slug, requests and
step tasks checked against Postgres before the engine acts, and the operator's commands scoped to a
tenant."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from click.testing import CliRunner, Result
from confluent_kafka import Producer
from psycopg_pool import AsyncConnectionPool

from automate.cli.runtime import dlq, executions
from automate.cli.workflows import workflows
from automate.config import Settings
from automate.dead_letters import DeadLetter
from automate.errors import ErrorCodes, TenantMismatch, WorkflowSlugTaken
from automate.events import run_workflow
from automate.records import Records
from automate.runtime.engine import Engine, Outcome, Resume
from automate.step_tasks import StepTask
from tests.integration.runtime_support import apply_workflow, status_of, step_runs

pytestmark = pytest.mark.integration

NOOP = [{"id": "a", "action": "core.noop"}]


def as_tenant(settings: Settings, tenant: str, **more: Any) -> Settings:
    return Settings(**{**settings.model_dump(), "tenant": tenant, **more})


def automations(settings: Settings) -> list[tuple[str, str, int | None]]:
    with psycopg.connect(settings.dsn) as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT tenant, slug, live_version FROM automation ORDER BY tenant, slug").fetchall()]


def cli(command: Any, settings: Settings, *args: str) -> Result:
    return CliRunner(env={"COLUMNS": "300"}).invoke(command, list(args), obj=settings, catch_exceptions=False)


# --- whose a workflow is ----------------------------------------------------------------------------


def test_a_file_naming_another_tenant_is_refused_unless_the_operator_trusts_it(db_settings: Settings) -> None:
    acme = as_tenant(db_settings, "acme")
    with pytest.raises(TenantMismatch, match="names tenant 'globex'") as caught:
        apply_workflow(acme, {"slug": "theirs", "name": "t", "tenant": "globex", "steps": NOOP})
    assert caught.value.code == ErrorCodes.TENANT_MISMATCH
    assert automations(db_settings) == []
    trusting = as_tenant(db_settings, "acme", workflow_tenant_from_file=True)  # AUTOMATE_WORKFLOW_TENANT_...
    apply_workflow(trusting, {"slug": "theirs", "name": "t", "tenant": "globex", "steps": NOOP})
    apply_workflow(trusting, {"slug": "ours", "name": "o", "steps": NOOP})  # no tenant: the operator's
    assert automations(db_settings) == [("acme", "ours", 1), ("globex", "theirs", 1)]


def test_cli_apply_takes_the_tenant_from_the_operator(db_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({"slug": "alpha", "name": "a", "steps": NOOP}))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"slug": "beta", "name": "b", "tenant": "globex",
                                                     "steps": NOOP}))
    refused = cli(workflows, as_tenant(db_settings, "acme"), "apply", "-f", str(tmp_path))
    assert refused.exit_code == 1
    assert f"{tmp_path / 'b.yaml'}: invalid" in refused.stderr
    assert "$.tenant: workflow 'beta' names tenant 'globex', but it is applied for tenant 'acme'" in " ".join(
        refused.stderr.split())
    assert automations(db_settings) == []  # the valid file was not applied either

    as_globex = cli(workflows, as_tenant(db_settings, "acme"), "apply", "-f", str(tmp_path),
                    "--tenant", "globex")
    assert as_globex.exit_code == 0, as_globex.output
    assert "globex/alpha: version 1 created" in as_globex.stdout
    assert automations(db_settings) == [("globex", "alpha", 1), ("globex", "beta", 1)]

    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"slug": "gamma", "name": "c", "tenant": "initech",
                                                     "steps": NOOP}))
    trusted = cli(workflows, as_tenant(db_settings, "globex"), "apply", "-f", str(tmp_path),
                  "--tenant-from-file")
    assert trusted.exit_code == 0, trusted.output
    assert "initech/gamma: version 1 created" in trusted.stdout
    assert ("initech", "gamma", 1) in automations(db_settings)

    (tmp_path / "d.yaml").write_text(yaml.safe_dump({"slug": "delta", "name": "d", "tenant": "hooli",
                                                     "steps": NOOP}))
    trusting = as_tenant(db_settings, "globex", workflow_tenant_from_file=True)  # the setting, not the flag
    by_setting = cli(workflows, trusting, "apply", "-f", str(tmp_path / "d.yaml"))
    assert by_setting.exit_code == 0, by_setting.output
    assert "hooli/delta: version 1 created" in by_setting.stdout


# --- one tenant per slug ----------------------------------------------------------------------------


def test_a_slug_is_one_tenants(db_settings: Settings) -> None:
    acme, globex = as_tenant(db_settings, "acme"), as_tenant(db_settings, "globex")
    apply_workflow(acme, {"slug": "orders", "name": "o", "steps": NOOP})
    with pytest.raises(WorkflowSlugTaken) as caught:
        apply_workflow(globex, {"slug": "orders", "name": "mine now", "steps": NOOP})
    assert caught.value.code == ErrorCodes.WORKFLOW_SLUG_TAKEN
    assert [path for path, _ in caught.value.faults] == ["$.slug"]
    assert "globex" not in str(caught.value) and "acme" not in str(caught.value)  # names no other tenant
    apply_workflow(acme, {"slug": "orders", "name": "o",
                          "steps": [*NOOP, {"id": "b", "action": "core.noop"}]})
    assert automations(db_settings) == [("acme", "orders", 2)]


def test_a_slug_two_tenants_held_before_the_rule_keeps_working(db_settings: Settings) -> None:
    with psycopg.connect(db_settings.dsn) as conn:  # as an older installation left it
        for tenant in ("acme", "globex"):
            conn.execute("INSERT INTO automation (id, tenant, slug, name) VALUES (%s, %s, 'legacy', 'l')",
                         (str(uuid.uuid4()), tenant))
    for tenant in ("acme", "globex"):
        apply_workflow(as_tenant(db_settings, tenant), {"slug": "legacy", "name": "l", "steps": NOOP})
    with pytest.raises(WorkflowSlugTaken):
        apply_workflow(as_tenant(db_settings, "initech"), {"slug": "legacy", "name": "l", "steps": NOOP})
    assert automations(db_settings) == [("acme", "legacy", 1), ("globex", "legacy", 1)]


def test_cli_apply_refuses_a_slug_of_another_tenant_and_applies_nothing(db_settings: Settings,
                                                                        tmp_path: Path) -> None:
    apply_workflow(as_tenant(db_settings, "acme"), {"slug": "orders", "name": "o", "steps": NOOP})
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({"slug": "fresh", "name": "f", "steps": NOOP}))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"slug": "orders", "name": "o", "steps": NOOP}))
    result = cli(workflows, as_tenant(db_settings, "globex"), "apply", "-f", str(tmp_path))
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())
    assert "$.slug: the slug 'orders' belongs to another tenant's automation" in said, said
    assert automations(db_settings) == [("acme", "orders", 1)]


# --- requests and step tasks ------------------------------------------------------------------------


def _request(settings: Settings, automation_id: str, slug: str, **changes: Any) -> dict[str, Any]:
    return {"execution_id": str(uuid.uuid4()), "tenant": settings.tenant, "automation_id": automation_id,
            "workflow_slug": slug, "workflow_version": 1, "event_id": str(uuid.uuid4()),
            "event_type": "test.tenants", "context": "{}", "requested_at": int(time.time() * 1000), **changes}


class Sinks:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.tasks: list[StepTask] = []

    async def letter(self, letter: DeadLetter) -> None:
        self.letters.append(letter)

    async def task(self, task: StepTask) -> None:
        self.tasks.append(task)


def _run(settings: Settings, sinks: Sinks, body: Any) -> Any:
    async def main() -> Any:
        async with AsyncConnectionPool(settings.dsn, min_size=1, max_size=4, open=False) as pool:
            engine = Engine(settings, pool, mode="deferred", scheduler=sinks.task, dead_letters=sinks.letter)
            try:
                return await body(engine)
            finally:
                await engine.writer.close()
                await engine.reader.close()

    return asyncio.run(main())


def test_a_request_naming_another_tenant_or_workflow_creates_nothing(db_settings: Settings) -> None:
    globex = as_tenant(db_settings, "globex")
    automation_id = apply_workflow(globex, {"slug": "payroll", "name": "p", "steps": NOOP})
    sinks = Sinks()
    as_acme = _request(as_tenant(db_settings, "acme"), automation_id, "payroll")
    other_slug = _request(globex, automation_id, "orders")

    async def body(engine: Engine) -> list[Outcome]:
        return [await engine.start(as_acme), await engine.start(other_slug)]

    assert _run(db_settings, sinks, body) == [Outcome.REFUSED, Outcome.REFUSED]
    assert [(x.error_code, x.execution_id, x.tenant) for x in sinks.letters] == [
        ("tenant.mismatch", as_acme["execution_id"], "globex"),
        ("tenant.mismatch", other_slug["execution_id"], "globex")]
    with psycopg.connect(db_settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM execution").fetchone() == (0,)


def _wait_workflow(seconds: float) -> list[dict[str, Any]]:
    return [{"id": "pause", "action": "core.wait", "input": {"seconds": seconds}},
            {"id": "after", "action": "core.noop", "needs": ["pause"]}]


def test_step_tasks_are_checked_against_the_executions_state(db_settings: Settings) -> None:
    s = db_settings
    automation_id = apply_workflow(s, {"slug": "long-wait", "name": "l", "steps": _wait_workflow(3600)})
    request = _request(s, automation_id, "long-wait")
    ident = request["execution_id"]
    sinks = Sinks()

    def task(reason: str = "wait", *, attempt: int = 2, tenant: str = s.tenant, due_ms: int | None = None
             ) -> Resume:
        due = due_ms if due_ms is not None else int(time.time() * 1000)
        return Resume("pause", attempt, reason, tenant=tenant,  # type: ignore[arg-type]
                      workflow_slug="long-wait", due_at_ms=due)

    async def body(engine: Engine) -> list[Outcome]:
        outcomes = [await engine.start(request)]
        genuine_ms = int(sinks.tasks[0].due_at * 1000)
        for resume in (task(), task(tenant="globex"), task("retry"), task(due_ms=genuine_ms),
                       task(attempt=5)):
            outcomes.append(await engine.advance(ident, resume))
        return outcomes

    outcomes = _run(s, sinks, body)
    assert outcomes == [Outcome.WAITING, Outcome.REFUSED, Outcome.REFUSED, Outcome.REFUSED, Outcome.REFUSED,
                        Outcome.WAITING]
    assert [x.error_code for x in sinks.letters] == ["step_task.early", "tenant.mismatch",
                                                    "step_task.unexpected"]
    assert all(x.execution_id == ident and x.step_id == "pause" for x in sinks.letters)
    genuine = sinks.tasks[0]
    assert genuine.due_at > time.time() + 3500
    # The genuine task, early, is put back until its due time (as the record carries it, in ms).
    assert sinks.tasks[1:] == [dataclasses.replace(genuine, due_at=int(genuine.due_at * 1000) / 1000)]
    assert status_of(s, ident) == "RUNNING"
    assert step_runs(s, ident) == [("pause", 1, "RETRYING", "wait")]  # not woken early


def test_the_genuine_task_ends_the_wait_once_due(db_settings: Settings) -> None:
    s = db_settings
    automation_id = apply_workflow(s, {"slug": "short-wait", "name": "s", "steps": _wait_workflow(1)})
    request = _request(s, automation_id, "short-wait")
    sinks = Sinks()

    async def body(engine: Engine) -> list[Outcome]:
        started = await engine.start(request)
        [task] = sinks.tasks
        await asyncio.sleep(max(0.0, task.due_at - time.time()) + 0.1)
        resume = Resume(task.step_id, task.attempt, task.reason, tenant=task.tenant,
                        workflow_slug=task.workflow_slug, due_at_ms=int(task.due_at * 1000))
        return [started, await engine.advance(task.execution_id, resume)]

    assert _run(s, sinks, body) == [Outcome.WAITING, Outcome.SUCCESS]
    assert sinks.letters == []
    assert [(r[0], r[1], r[2]) for r in step_runs(s, request["execution_id"])] == [
        ("pause", 1, "RETRYING"), ("pause", 2, "SUCCESS"), ("after", 1, "SUCCESS")]


# --- the operator's commands ------------------------------------------------------------------------


def test_executions_commands_see_one_tenant(db_settings: Settings) -> None:
    acme, globex = as_tenant(db_settings, "acme"), as_tenant(db_settings, "globex")
    apply_workflow(acme, {"slug": "a-flow", "name": "a", "steps": NOOP})
    apply_workflow(globex, {"slug": "g-flow", "name": "g", "steps": NOOP})
    mine = run_workflow("a-flow", {}, settings=acme)
    theirs = run_workflow("g-flow", {}, settings=globex)

    listed = cli(executions, acme, "list")
    assert listed.exit_code == 0 and mine in listed.stdout and theirs not in listed.stdout
    other = cli(executions, acme, "list", "--tenant", "globex")
    assert theirs in other.stdout and mine not in other.stdout
    every = cli(executions, acme, "list", "--all-tenants")
    assert mine in every.stdout and theirs in every.stdout
    both = cli(executions, acme, "list", "--all-tenants", "--tenant", "globex")
    assert both.exit_code == 1 and "not both" in both.stderr

    hidden = cli(executions, acme, "show", theirs, "--json")
    assert hidden.exit_code == 1 and f"no execution {theirs} of tenant 'acme'" in hidden.stderr
    shown = cli(executions, acme, "show", theirs, "--json", "--tenant", "globex")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["tenant"] == "globex"

    refused = cli(executions, acme, "cancel", theirs)
    assert refused.exit_code == 1 and "of tenant 'acme'" in refused.stderr
    assert status_of(db_settings, theirs) == "PENDING"
    assert cli(executions, acme, "cancel", mine).exit_code == 0
    assert status_of(db_settings, mine) == "CANCELED"


def test_dlq_commands_see_one_tenant(db_settings: Settings) -> None:
    acme, globex = as_tenant(db_settings, "acme"), as_tenant(db_settings, "globex")
    apply_workflow(globex, {"slug": "g-flow", "name": "g", "steps": NOOP})
    theirs = run_workflow("g-flow", {}, settings=globex)
    mine = str(uuid.uuid4())
    records = Records.load(db_settings)
    producer = Producer({"bootstrap.servers": db_settings.bootstrap_servers})
    for letter in (DeadLetter.step(execution_id=mine, tenant="acme", workflow_slug="a-flow", step_id="a",
                                   attempt=1, code="http.503", message="mine"),
                   DeadLetter.step(execution_id=theirs, tenant="globex", workflow_slug="g-flow", step_id="a",
                                   attempt=1, code="http.500", message="theirs"),
                   DeadLetter.poison(code="record.unreadable", message="no tenant",
                                     source_topic=db_settings.topic("events"), original=b"junk")):
        producer.produce(db_settings.topic("dlq"), value=letter.encode(records))
    assert producer.flush(30) == 0

    listed = cli(dlq, acme, "list")
    assert listed.exit_code == 0 and mine in listed.stdout
    assert theirs not in listed.stdout and "record.unreadable" not in listed.stdout
    every = cli(dlq, acme, "list", "--all-tenants")
    assert mine in every.stdout and theirs in every.stdout and "record.unreadable" in every.stdout
    hidden = cli(dlq, acme, "show", theirs)
    assert hidden.exit_code == 1 and "of tenant 'acme'" in hidden.stderr
    shown = cli(dlq, acme, "show", theirs, "--tenant", "globex")
    assert shown.exit_code == 0 and json.loads(shown.stdout.splitlines()[0])["error_code"] == "http.500"
    replay = cli(dlq, acme, "replay", theirs)
    assert replay.exit_code == 1 and f"no execution {theirs} of tenant 'acme'" in replay.stderr
    assert status_of(db_settings, theirs) == "PENDING"
