"""What a request or a step task must match before the engine acts on it, and whose a workflow file is."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from automate.dead_letters import DeadLetter
from automate.errors import ErrorCodes, RecordError, TenantMismatch
from automate.runtime.admission import (
    EARLY_SLACK_S,
    Resume,
    admit_request,
    admit_task,
    check_request,
    check_task,
    parked,
)
from automate.runtime.workflows import WorkflowSpec
from automate.runtime.workflows.tenants import workflow_tenant
from automate.step_tasks import StepTask

NOW = 1_800_000_000.0


@dataclass
class Step:
    status: str
    attempt: int
    output: Any = None
    error_code: str | None = None


@dataclass
class Run:
    id: str = "e1"
    tenant: str = "acme"
    slug: str = "orders"
    status: str = "RUNNING"
    steps: dict[str, Step] = field(default_factory=dict)


def waiting(due: float = NOW + 3600) -> Run:
    return Run(steps={"pause": Step("RETRYING", 1, parked(due), "wait")})


def task(reason: str = "wait", *, attempt: int = 2, tenant: str = "acme", slug: str = "orders",
         due: float = NOW + 3600) -> Resume:
    return Resume("pause", attempt, reason, tenant=tenant, workflow_slug=slug,  # type: ignore[arg-type]
                  due_at_ms=int(due * 1000))


def test_a_request_runs_only_as_its_automations_tenant_and_workflow() -> None:
    request = {"execution_id": "e1", "tenant": "acme", "workflow_slug": "orders", "automation_id": "a1"}
    check_request(request, "acme", "orders")
    with pytest.raises(TenantMismatch, match="names tenant 'globex'") as caught:
        check_request({**request, "tenant": "globex"}, "acme", "orders")
    assert caught.value.code == ErrorCodes.TENANT_MISMATCH
    with pytest.raises(TenantMismatch):
        check_request({**request, "workflow_slug": "payroll"}, "acme", "orders")


def test_a_refused_request_is_dead_lettered() -> None:
    letters: list[DeadLetter] = []

    async def sink(letter: DeadLetter) -> None:
        letters.append(letter)

    request = {"execution_id": "e1", "tenant": "globex", "workflow_slug": "orders", "automation_id": "a1"}
    assert not asyncio.run(admit_request(request, "acme", "orders", sink))
    assert [(x.kind, x.error_code, x.execution_id, x.tenant) for x in letters] == [
        ("step", "tenant.mismatch", "e1", "acme")]
    assert asyncio.run(admit_request({**request, "tenant": "acme"}, "acme", "orders", sink))
    assert len(letters) == 1


def test_the_genuine_task_runs_once_due() -> None:
    assert check_task(waiting(), task(), now=NOW + 3600) == "run"
    assert check_task(waiting(), task(), now=NOW + 3600 - EARLY_SLACK_S / 2) == "run"


def test_a_task_naming_another_tenant_or_workflow_is_refused() -> None:
    with pytest.raises(TenantMismatch):
        check_task(waiting(), task(tenant="globex"), now=NOW + 7200)
    with pytest.raises(TenantMismatch):
        check_task(waiting(), task(slug="payroll"), now=NOW + 7200)


def test_a_forged_early_wake_up_is_refused_and_the_genuine_early_task_comes_later() -> None:
    with pytest.raises(RecordError) as caught:
        check_task(waiting(), task(due=NOW), now=NOW)
    assert caught.value.code == ErrorCodes.STEP_TASK_EARLY
    assert check_task(waiting(), task(), now=NOW) == "later"


def test_a_task_its_step_did_not_ask_for_is_refused() -> None:
    with pytest.raises(RecordError) as caught:  # a retry task for a step parked by core.wait
        check_task(waiting(), task("retry"), now=NOW + 7200)
    assert caught.value.code == ErrorCodes.STEP_TASK_UNEXPECTED
    retrying = Run(steps={"pause": Step("RETRYING", 1, parked(NOW), "http.503")})
    with pytest.raises(RecordError):  # a wait task for a step waiting for its retry
        check_task(retrying, task("wait"), now=NOW)
    assert check_task(retrying, task("retry"), now=NOW) == "run"
    failed = Run(steps={"pause": Step("FAILED", 1, None, "http.500")})
    with pytest.raises(RecordError):
        check_task(failed, task("retry"), now=NOW)
    assert check_task(failed, task("replay"), now=NOW) == "run"
    with pytest.raises(RecordError):
        check_task(waiting(), task("replay"), now=NOW + 7200)


def test_a_duplicate_task_resumes_nothing_and_is_not_refused() -> None:
    assert check_task(waiting(), task(attempt=3), now=NOW) == "duplicate"
    done = Run(steps={"pause": Step("SUCCESS", 2, {"waited": 1})})
    assert check_task(done, task(), now=NOW) == "duplicate"
    assert check_task(Run(), task(), now=NOW) == "duplicate"
    swept = waiting()
    swept.status = "FAILED"  # e.g. past its deadline: its wait's task, early or not, resumes nothing
    assert check_task(swept, task(due=NOW), now=NOW) == "duplicate"
    with pytest.raises(TenantMismatch):
        check_task(swept, task(tenant="globex"), now=NOW)


def test_an_attempt_parked_before_due_times_were_recorded_runs_when_its_task_comes() -> None:
    legacy = Run(steps={"pause": Step("RETRYING", 1, None, "wait")})
    assert check_task(legacy, task(due=NOW), now=NOW) == "run"


def test_admit_task_dead_letters_refusals_and_puts_the_genuine_early_task_back() -> None:
    letters: list[DeadLetter] = []
    scheduled: list[StepTask] = []

    async def sink(letter: DeadLetter) -> None:
        letters.append(letter)

    async def schedule(step_task: StepTask) -> None:
        scheduled.append(step_task)

    due = 4_102_444_800.0  # 2100: far ahead of the real clock admit_task reads
    run = waiting(due)
    assert not asyncio.run(admit_task(run, task(due=1.0), sink, schedule))
    assert [(x.error_code, x.step_id, x.attempt, x.tenant) for x in letters] == [
        ("step_task.early", "pause", 2, "acme")]
    assert not asyncio.run(admit_task(run, task(due=due), sink, schedule))
    assert scheduled == [StepTask("e1", "acme", "orders", "pause", 2, due, "wait")]
    assert len(letters) == 1


def test_a_task_record_gives_its_resume() -> None:
    record = {"execution_id": "e1", "tenant": "acme", "workflow_slug": "orders", "step_id": "pause",
              "attempt": 2, "reason": "wait", "due_at": datetime(2027, 1, 1, tzinfo=UTC)}
    resume = Resume.of_task(record)
    assert resume == Resume("pause", 2, "wait", tenant="acme", workflow_slug="orders",
                            due_at_ms=int(datetime(2027, 1, 1, tzinfo=UTC).timestamp() * 1000))
    assert Resume.of_task({**record, "due_at": 5}).due_at_ms == 5


def test_a_workflow_file_is_the_operators_tenants_unless_the_file_is_trusted() -> None:
    spec = WorkflowSpec.model_validate({"slug": "orders", "name": "o", "tenant": "globex",
                                        "steps": [{"id": "a", "action": "core.noop"}]})
    with pytest.raises(TenantMismatch, match=r"names tenant 'globex'.*applied for tenant 'acme'"):
        workflow_tenant(spec, "acme", from_file=False)
    assert workflow_tenant(spec, "acme", from_file=True) == "globex"
    assert workflow_tenant(spec, "globex", from_file=False) == "globex"
    unnamed = spec.model_copy(update={"tenant": None})
    assert workflow_tenant(unnamed, "acme", from_file=True) == "acme"
