"""Hostile execution ids through the live workers: ids in the forms Python reads and Postgres refuses or
spells otherwise (``urn:uuid:``, braces, no dashes, upper case), and execution requests naming an
execution that exists as another tenant's. Each is read by its canonical id and refused typed (a dead
letter), the victim's execution is untouched, and the pipeline goes on (``live.assert_healthy``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer

from automate.errors import ErrorCodes
from automate.events import run_workflow
from automate.records import Records
from automate.topics import workflow_topic
from tests.hostile.pipeline import ATTACKER, VICTIM, LivePipeline

pytestmark = pytest.mark.integration

STRONGBOX: dict[str, Any] = {"slug": "strongbox", "name": "the victim's time lock", "steps": [
    {"id": "pause", "action": "core.wait", "input": {"seconds": 3600}},
    {"id": "open", "action": "core.noop", "needs": ["pause"]}]}
FORGER: dict[str, Any] = {"slug": "forger", "name": "the attacker's own workflow", "steps": [
    {"id": "touch", "action": "core.noop"}]}

FORMS: dict[str, Callable[[uuid.UUID], str]] = {
    "urn": lambda u: f"urn:uuid:{u}",
    "braces": lambda u: "{" + str(u) + "}",
    "no dashes": lambda u: u.hex,
    "upper case": lambda u: str(u).upper(),
}


@pytest.fixture(scope="module")
def forger(live: LivePipeline) -> str:
    live.apply(STRONGBOX, tenant=VICTIM)
    return live.apply(FORGER, tenant=ATTACKER)


def produce(live: LivePipeline, slug: str, name: str, record: dict[str, Any]) -> None:
    producer = Producer({"bootstrap.servers": live.base.bootstrap_servers})
    producer.produce(workflow_topic(live.base, slug), value=Records.load(live.base).encode(name, record),
                     key=str(record["execution_id"]).encode())
    assert producer.flush(30) == 0


def letter_of(live: LivePipeline, execution_id: str, code: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in live.dead_letters() if r.get("execution_id") == execution_id]
        if any(r["error_code"] == code for r in found):
            return next(r for r in found if r["error_code"] == code)
        assert time.monotonic() < deadline, f"no {code} dead letter for {execution_id}: {found}"
        time.sleep(0.5)


def state_of(live: LivePipeline, execution_id: str) -> list[tuple[Any, ...]]:
    return live.query("SELECT e.status, e.tenant, s.step_id, s.attempt, s.status FROM execution e "
                      "LEFT JOIN step_run s ON s.execution_id = e.id WHERE e.id = %s "
                      "ORDER BY s.step_id, s.attempt", execution_id)


def parked(live: LivePipeline) -> str:
    """A new execution of the victim's time lock, parked for an hour."""
    execution_id = run_workflow("strongbox", {}, settings=live.victim)
    deadline = time.monotonic() + 60
    while state_of(live, execution_id) != [("RUNNING", VICTIM, "pause", 1, "RETRYING")]:
        assert time.monotonic() < deadline, f"never parked: {state_of(live, execution_id)}"
        time.sleep(0.2)
    return execution_id


@pytest.mark.parametrize("form", [*FORMS, "canonical"])
def test_a_request_naming_another_tenants_execution_runs_nothing(live: LivePipeline, forger: str,
                                                                  form: str) -> None:
    victim_id = parked(live)
    spelled = FORMS[form](uuid.UUID(victim_id)) if form in FORMS else victim_id
    produce(live, "forger", "ExecutionRequest", {
        "execution_id": spelled, "tenant": ATTACKER, "automation_id": forger, "workflow_slug": "forger",
        "workflow_version": 1, "event_id": str(uuid.uuid4()), "event_type": "forger.run",
        "context": json.dumps({}), "requested_at": int(time.time() * 1000)})

    letter = letter_of(live, victim_id, ErrorCodes.TENANT_MISMATCH)
    assert (letter["kind"], letter["tenant"], letter["workflow_slug"]) == ("step", ATTACKER, "forger")
    assert state_of(live, victim_id) == [("RUNNING", VICTIM, "pause", 1, "RETRYING")]
    live.assert_healthy()


def test_step_tasks_with_ids_in_other_forms_are_read_by_their_canonical_ids(live: LivePipeline,
                                                                             forger: str) -> None:
    victim_id = parked(live)
    unknown = {form: uuid.uuid4() for form in FORMS}
    tasks = [(spell(unknown[form]), ATTACKER) for form, spell in FORMS.items()]
    tasks.append((FORMS["urn"](uuid.UUID(victim_id)), ATTACKER))  # the victim's, in the attacker's name
    for ident, tenant in tasks:
        produce(live, "strongbox", "StepTask", {
            "execution_id": ident, "tenant": tenant, "workflow_slug": "strongbox", "step_id": "pause",
            "attempt": 2, "due_at": int(time.time() * 1000), "reason": "wait"})

    for missing in unknown.values():
        assert letter_of(live, str(missing), ErrorCodes.EXECUTION_UNKNOWN)["kind"] == "step"
    letter = letter_of(live, victim_id, ErrorCodes.TENANT_MISMATCH)
    assert letter["tenant"] == VICTIM  # a task's refusal is filed under the execution's tenant
    assert state_of(live, victim_id) == [("RUNNING", VICTIM, "pause", 1, "RETRYING")]
    live.assert_healthy()
