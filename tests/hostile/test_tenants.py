"""Hostile input across the tenant boundary, through the live workers: forged execution requests, forged
step tasks that would end another tenant's wait early, workflow files naming another tenant, and a slug
(so a workflow topic) another tenant holds. Each is refused with a typed error, the victim's automation
and executions are untouched, and the pipeline goes on (``live.assert_healthy``)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import Producer

from automate.cli.workflows import workflows
from automate.errors import ErrorCodes, TenantMismatch, WorkflowSlugTaken
from automate.events import run_workflow
from automate.records import Records
from automate.step_tasks import ATTEMPT_HEADER, DUE_AT_HEADER, TARGET_HEADER
from automate.topics import workflow_topic
from tests.hostile.pipeline import ATTACKER, VICTIM, LivePipeline

pytestmark = pytest.mark.integration

PAYROLL: dict[str, Any] = {"slug": "payroll", "name": "the victim's payroll",
                           "steps": [{"id": "pay", "action": "core.noop"}]}
VAULT: dict[str, Any] = {"slug": "vault", "name": "the victim's time lock", "steps": [
    {"id": "pause", "action": "core.wait", "input": {"seconds": 3600}},
    {"id": "release", "action": "core.noop", "needs": ["pause"]}]}
BACKOFF: dict[str, Any] = {"slug": "backoff", "name": "the victim's hour-long backoff", "steps": [
    {"id": "charge", "action": "core.fail", "input": {"code": "http.503", "times": 1},
     "retry": {"max_attempts": 2, "initial": "1h", "max": "1h", "jitter": 0}}]}


@pytest.fixture(scope="module")
def victim(live: LivePipeline) -> dict[str, str]:
    """The victim's automations (by slug: automation id)."""
    return {str(spec["slug"]): live.apply(spec, tenant=VICTIM) for spec in (PAYROLL, VAULT, BACKOFF)}


def produce(live: LivePipeline, topic: str, value: bytes, key: str,
            headers: list[tuple[str, str | bytes | None]] | None = None) -> None:
    producer = Producer({"bootstrap.servers": live.base.bootstrap_servers})
    producer.produce(topic, value=value, key=key.encode(), headers=headers or [])
    assert producer.flush(30) == 0


def letters_of(live: LivePipeline, execution_id: str, code: str,
               timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait for a dead letter of ``execution_id`` with ``code``; returns the execution's letters."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in live.dead_letters() if r.get("execution_id") == execution_id]
        if any(r["error_code"] == code for r in found):
            return found
        assert time.monotonic() < deadline, f"no {code} dead letter for {execution_id}: {found}"
        time.sleep(0.5)


def steps_of(live: LivePipeline, execution_id: str) -> list[tuple[str, int, str]]:
    return [(r[0], r[1], r[2]) for r in live.query(
        "SELECT step_id, attempt, status FROM step_run WHERE execution_id = %s ORDER BY step_id, attempt",
        execution_id)]


def automations(live: LivePipeline) -> list[tuple[str, str, int]]:
    return [(r[0], r[1], r[2]) for r in live.query(
        "SELECT tenant, slug, live_version FROM automation ORDER BY tenant, slug")]


# --- forged execution requests -----------------------------------------------------------------------

FORGED_REQUESTS = {
    "the attacker's tenant on the victim's automation": {"tenant": ATTACKER},
    "the victim's tenant, another workflow's slug": {"tenant": VICTIM, "workflow_slug": "canary"},
}


@pytest.mark.parametrize("changes", FORGED_REQUESTS.values(), ids=list(FORGED_REQUESTS))
def test_a_forged_request_runs_nothing(live: LivePipeline, victim: dict[str, str],
                                       changes: dict[str, str]) -> None:
    forged: dict[str, Any] = {
              "execution_id": str(uuid.uuid4()), "tenant": VICTIM, "automation_id": victim["payroll"],
              "workflow_slug": "payroll", "workflow_version": 1, "event_id": str(uuid.uuid4()),
              "event_type": "payroll.run", "context": json.dumps({"amount": 10**6}),
              "requested_at": int(time.time() * 1000), **changes}
    value = Records.load(live.base).encode("ExecutionRequest", forged)
    produce(live, workflow_topic(live.base, "payroll"), value, forged["execution_id"])

    [letter] = letters_of(live, forged["execution_id"], ErrorCodes.TENANT_MISMATCH)
    assert (letter["kind"], letter["tenant"], letter["workflow_slug"]) == ("step", VICTIM, "payroll")
    assert live.query("SELECT count(*) FROM execution WHERE id = %s", forged["execution_id"]) == [(0,)]
    assert live.query("SELECT count(*) FROM execution WHERE automation_id = %s", victim["payroll"]) == [(0,)]
    live.assert_healthy()


# --- forged step tasks -------------------------------------------------------------------------------


def _parked_execution(live: LivePipeline, slug: str = "vault", step: str = "pause") -> str:
    """A new execution of the victim's time lock (or backoff), parked for an hour."""
    execution_id = run_workflow(slug, {}, settings=live.victim)
    deadline = time.monotonic() + 60
    while steps_of(live, execution_id) != [(step, 1, "RETRYING")]:
        assert time.monotonic() < deadline, f"never parked: {steps_of(live, execution_id)}"
        time.sleep(0.2)
    return execution_id


FORGED_TASKS = {
    # (record fields changed, through the retry tier, the dead letter's code)
    "an early wake-up on the workflow topic": ({}, False, ErrorCodes.STEP_TASK_EARLY),
    "an early wake-up through the retry tier": ({}, True, ErrorCodes.STEP_TASK_EARLY),
    "a task in the attacker's name": ({"tenant": ATTACKER}, False, ErrorCodes.TENANT_MISMATCH),
    "a retry task for a waiting step": ({"reason": "retry"}, False, ErrorCodes.STEP_TASK_UNEXPECTED),
    "a replay task for a waiting step": ({"reason": "replay"}, False, ErrorCodes.STEP_TASK_UNEXPECTED),
    "an early end of a retry's backoff": ({"workflow_slug": "backoff", "step_id": "charge",
                                           "reason": "retry"}, False, ErrorCodes.STEP_TASK_EARLY),
}


@pytest.mark.parametrize(("changes", "via_tier", "code"), FORGED_TASKS.values(), ids=list(FORGED_TASKS))
def test_a_forged_step_task_does_not_end_a_wait(live: LivePipeline, victim: dict[str, str],
                                                changes: dict[str, Any], via_tier: bool, code: str) -> None:
    slug, step = changes.get("workflow_slug", "vault"), changes.get("step_id", "pause")
    execution_id = _parked_execution(live, slug, step)
    now_ms = int(time.time() * 1000)
    task = {"execution_id": execution_id, "tenant": VICTIM, "workflow_slug": "vault", "step_id": "pause",
            "attempt": 2, "due_at": now_ms, "reason": "wait", **changes}
    value = Records.load(live.base).encode("StepTask", task)
    target = workflow_topic(live.base, slug)
    if via_tier:
        produce(live, live.base.topic("retry.1s"), value, execution_id, headers=[
            (DUE_AT_HEADER, str(now_ms).encode()), (ATTEMPT_HEADER, b"2"), (TARGET_HEADER, target.encode())])
    else:
        produce(live, target, value, execution_id)

    letters = letters_of(live, execution_id, code)
    assert [(r["step_id"], r["attempt"], r["tenant"]) for r in letters] == [(step, 2, VICTIM)]
    assert steps_of(live, execution_id) == [(step, 1, "RETRYING")]  # still parked; nothing ran early
    assert live.query("SELECT status FROM execution WHERE id = %s", execution_id) == [("RUNNING",)]
    live.assert_healthy()


# --- workflow files and slugs ------------------------------------------------------------------------


def test_a_workflow_file_naming_the_victim_does_not_replace_its_automation(live: LivePipeline,
                                                                           victim: dict[str, str]) -> None:
    hijack = {"slug": "canary", "name": "hijacked", "tenant": VICTIM,
              "steps": [{"id": "pong", "action": "core.fail", "input": {"code": "hijacked"}}]}
    before = automations(live)
    with pytest.raises(TenantMismatch) as caught:
        live.apply(hijack)  # applied by the attacker's operator (tenant acme)
    assert caught.value.code == ErrorCodes.TENANT_MISMATCH
    assert automations(live) == before
    live.assert_healthy()  # the canary still runs its own definition to SUCCESS


def test_the_cli_refuses_a_file_naming_the_victim(live: LivePipeline, victim: dict[str, str],
                                                  tmp_path: Path) -> None:
    (tmp_path / "payroll.json").write_text(json.dumps({**PAYROLL, "tenant": VICTIM, "steps": [
        {"id": "pay", "action": "core.fail", "input": {"code": "hijacked"}}]}))
    before = automations(live)
    result = CliRunner().invoke(workflows, ["apply", "-f", str(tmp_path)], obj=live.settings)
    assert result.exit_code == 1
    assert "$.tenant: workflow 'payroll' names tenant 'globex'" in " ".join(result.stderr.split())
    assert automations(live) == before
    live.assert_healthy()


def test_a_colliding_slug_is_refused(live: LivePipeline, victim: dict[str, str], tmp_path: Path) -> None:
    before = automations(live)
    with pytest.raises(WorkflowSlugTaken) as caught:  # the victim's canary: its topic would be shared
        live.apply({"slug": "canary", "name": "mine", "trigger": {"event": "canary.ping"},
                    "steps": [{"id": "steal", "action": "core.noop"}]})
    assert caught.value.code == ErrorCodes.WORKFLOW_SLUG_TAKEN
    (tmp_path / "vault.yaml").write_text(json.dumps({**VAULT, "name": "mine"}))
    result = CliRunner().invoke(workflows, ["apply", "-f", str(tmp_path)], obj=live.settings)
    assert result.exit_code == 1 and "$.slug: the slug 'vault' belongs to another tenant's" in " ".join(
        result.stderr.split())
    assert automations(live) == before
    assert [row for row in before if row[1] in ("canary", "vault")] == [(VICTIM, "canary", 1),
                                                                         (VICTIM, "vault", 1)]
    live.assert_healthy()
