"""How the engine writes an execution whose steps are all pure: once, at its end (created ended, with
its step results), unless a step fails first; a request delivered again finds it and changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from automate.config import Settings
from automate.events import run_workflow
from automate.runtime.engine import Engine, Outcome
from automate.step_tasks import StepTask
from tests.integration.runtime_support import apply_workflow, status_of, step_runs

pytestmark = pytest.mark.integration

PURE = [{"id": "a", "action": "core.noop"},
        {"id": "b", "action": "core.transform", "input": {"doubled": "{{ event.payload.n * 2 }}"},
         "needs": ["a"]},
        {"id": "c", "action": "core.noop", "needs": ["b"]}]


def _request(settings: Settings, automation_id: str, slug: str, payload: dict[str, Any],
             execution_id: str | None = None) -> dict[str, Any]:
    return {"execution_id": execution_id or str(uuid.uuid4()), "tenant": settings.tenant,
            "automation_id": automation_id, "workflow_slug": slug, "workflow_version": 1,
            "event_id": str(uuid.uuid4()), "event_type": "test.pure", "context": json.dumps(payload),
            "requested_at": int(time.time() * 1000)}


async def _with_engine(settings: Settings, body: Any) -> Any:
    async def never(_task: StepTask) -> None:
        raise AssertionError("a pure workflow scheduled a task")

    async with AsyncConnectionPool(settings.dsn, min_size=1, max_size=4, open=False) as pool:
        engine = Engine(settings, pool, mode="deferred", scheduler=never)
        try:
            return await body(engine)
        finally:
            await engine.writer.close()
            await engine.reader.close()


def test_a_pure_execution_is_written_once_at_its_end(db_settings: Settings) -> None:
    automation_id = apply_workflow(db_settings, {"slug": "pure", "name": "pure", "steps": PURE})
    request = _request(db_settings, automation_id, "pure", {"n": 21})

    async def body(engine: Engine) -> tuple[Outcome, int, Outcome, int]:
        first = await engine.start(request)
        batches = engine.writer.batches
        again = await engine.start(request)  # the request delivered again
        return first, batches, again, engine.writer.batches

    first, batches, again, _ = asyncio.run(_with_engine(db_settings, body))
    execution_id = request["execution_id"]
    assert (first, again) == (Outcome.SUCCESS, Outcome.ALREADY_DONE)
    assert batches == 1  # the execution and its three steps: one commit
    assert status_of(db_settings, execution_id) == "SUCCESS"
    assert [(s, a, st) for s, a, st, _ in step_runs(db_settings, execution_id)] == [
        ("a", 1, "SUCCESS"), ("b", 1, "SUCCESS"), ("c", 1, "SUCCESS")]
    with psycopg.connect(db_settings.dsn) as conn:
        row = conn.execute(
            "SELECT e.started_at <= e.finished_at, e.event_id::text, e.workflow_id IS NOT NULL, "
            "(SELECT output FROM step_run WHERE execution_id = e.id AND step_id = 'b') "
            "FROM execution e WHERE e.id = %s", (execution_id,)).fetchone()
    assert row == (True, request["event_id"], True, {"doubled": 42})


def test_a_pure_step_that_fails_writes_the_execution_then_fails_it(db_settings: Settings) -> None:
    broken = {"id": "b", "action": "core.transform", "input": {"x": "{{ event.payload.missing.deep }}"},
              "needs": ["a"]}
    steps = [PURE[0], broken, PURE[2]]
    automation_id = apply_workflow(db_settings, {"slug": "pure-fails", "name": "pure-fails", "steps": steps})
    request = _request(db_settings, automation_id, "pure-fails", {"n": 1})

    outcome = asyncio.run(_with_engine(db_settings, lambda engine: engine.start(request)))
    assert outcome == Outcome.FAILED
    execution_id = request["execution_id"]
    assert status_of(db_settings, execution_id) == "FAILED"
    runs = step_runs(db_settings, execution_id)
    assert [(s, st) for s, _a, st, _c in runs] == [("a", "SUCCESS"), ("b", "FAILED")]
    assert runs[1][3] is not None and runs[1][3].startswith("template")


def test_a_pure_execution_made_by_run_workflow_is_started_not_created_again(db_settings: Settings) -> None:
    automation_id = apply_workflow(db_settings, {"slug": "pure-direct", "name": "pure-direct", "steps": PURE})
    execution_id = run_workflow("pure-direct", {"n": 5}, settings=db_settings)  # PENDING, from its request
    assert status_of(db_settings, execution_id) == "PENDING"
    request = _request(db_settings, automation_id, "pure-direct", {"n": 5}, execution_id=execution_id)

    outcome = asyncio.run(_with_engine(db_settings, lambda engine: engine.start(request)))
    assert outcome == Outcome.SUCCESS
    assert status_of(db_settings, execution_id) == "SUCCESS"
    with psycopg.connect(db_settings.dsn) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT step_id) FROM step_run WHERE execution_id = %s",
                           (execution_id,)).fetchone()
        started = conn.execute("SELECT started_at IS NOT NULL FROM execution WHERE id = %s",
                               (execution_id,)).fetchone()
    assert row == (3, 3) and started == (True,)


def test_a_request_naming_another_tenant_runs_nothing(db_settings: Settings) -> None:
    automation_id = apply_workflow(db_settings, {"slug": "theirs", "name": "theirs", "steps": PURE})
    forged = {**_request(db_settings, automation_id, "theirs", {"n": 1}), "tenant": "globex"}

    outcome = asyncio.run(_with_engine(db_settings, lambda engine: engine.start(forged)))
    assert outcome == Outcome.REFUSED  # a dead letter: never run as globex with acme's workflow
    with psycopg.connect(db_settings.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM execution").fetchone() == (0,)
