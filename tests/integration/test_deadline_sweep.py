"""The deadline sweeper's cost to others (issue 16): it reads the unfinished executions through their own
index, not the whole execution table, and a sweep whose dead letters Kafka does not acknowledge never keeps
its rows locked for long: it is rolled back and its executions failed (with their letters) by a later one."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from automate.config import Settings
from automate.db.queries import query
from automate.dead_letters import DeadLetter
from automate.models import Automation
from automate.runtime.sweeper import TIMED_OUT, DeadlineSweeper
from tests.integration.runtime_support import apply_workflow, status_of

pytestmark = pytest.mark.integration


def _executions(settings: Settings, *, finished: int, running_late: int) -> list[str]:
    """``finished`` executions ended long ago and ``running_late`` still RUNNING, all past their deadline;
    returns the running ones' ids."""
    apply_workflow(settings, {"slug": "late", "name": "l", "steps": [{"id": "a", "action": "core.noop"}]})
    automation = str(Automation.objects.get(slug="late", settings=settings).id)
    with psycopg.connect(settings.dsn) as conn:
        conn.execute(
            "INSERT INTO execution (id, tenant, automation_id, status, deadline_at, finished_at) "
            "SELECT gen_random_uuid(), %s, %s::uuid, 'SUCCESS', "
            "now() - interval '1 day' + n * interval '1 ms', "
            "now() FROM generate_series(1, %s) AS n", (settings.tenant, automation, finished))
        rows = conn.execute(
            "INSERT INTO execution (id, tenant, automation_id, status, deadline_at) "
            "SELECT gen_random_uuid(), %s, %s::uuid, 'RUNNING', now() - interval '1 second' "
            "FROM generate_series(1, %s) RETURNING id::text", (settings.tenant, automation, running_late))
        ids = [str(r[0]) for r in rows.fetchall()]
        conn.execute("ANALYZE execution")
    return ids


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", ()) for node in _plan_nodes(child))]


def test_the_sweep_reads_the_unfinished_executions_through_their_deadline_index(
        db_settings: Settings) -> None:
    s = db_settings
    _executions(s, finished=20_000, running_late=5)
    sql = query("failures", "sweep_past_deadline")
    with psycopg.connect(s.dsn) as conn:
        [[explained]] = conn.execute(("EXPLAIN (FORMAT JSON) " + sql).encode(),
                                     {"error": Jsonb(TIMED_OUT), "limit": 100}).fetchall()
    plan = explained if isinstance(explained, list) else json.loads(explained)
    nodes = _plan_nodes(plan[0]["Plan"])
    on_execution = [n for n in nodes if n.get("Relation Name") == "execution" or
                    str(n.get("Index Name", "")).startswith("execution")]
    assert any(n.get("Index Name") == "execution_deadline" for n in on_execution), plan
    assert not any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "execution"
                   for n in nodes), plan


def test_a_sweep_whose_letters_hang_is_rolled_back_without_blocking_an_engine_write(
        db_settings: Settings) -> None:
    s = db_settings
    ids = _executions(s, finished=0, running_late=20)
    written: list[DeadLetter] = []

    async def kafka_away(_letter: DeadLetter) -> None:
        await asyncio.Event().wait()  # never acknowledged (the worker's sink retries for as long)

    async def kafka_back(letter: DeadLetter) -> None:
        written.append(letter)

    def engine_write() -> float:
        """How long an engine's write to one of the swept rows waited for the sweep's locks (s)."""
        with psycopg.connect(s.dsn) as conn:
            conn.execute("SET lock_timeout = '60s'")
            started = time.monotonic()
            conn.execute("UPDATE execution SET context = '{\"step\": 1}'::jsonb WHERE id = %s::uuid",
                         (ids[0],))
            return time.monotonic() - started

    async def body() -> tuple[list[Any], float, list[Any]]:
        async with AsyncConnectionPool(s.dsn, min_size=1, max_size=2, open=False) as pool:
            hanging = DeadlineSweeper(pool, kafka_away, letters_timeout_s=2.0)
            sweep = asyncio.create_task(hanging.sweep())
            await asyncio.sleep(0.5)  # the sweep holds its rows, waiting for its letters
            waited = await asyncio.to_thread(engine_write)
            first = await asyncio.wait_for(sweep, 60)
            assert hanging.rolled_back == 1
            second = await DeadlineSweeper(pool, kafka_back).sweep()
            return first, waited, second

    first, waited, second = asyncio.run(body())
    assert first == []  # rolled back: nothing failed by it
    assert waited < 20, waited  # the write waited the sweep's bound out at most, not Kafka
    assert sorted(row.id for row in second) == sorted(ids)  # the next sweep failed them, with their letters
    assert sorted(letter.execution_id or "" for letter in written) == sorted(ids)
    assert {status_of(s, i) for i in ids} == {"FAILED"}
