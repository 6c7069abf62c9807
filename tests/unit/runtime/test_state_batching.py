"""The state writer's batching, without a database: what one batch runs and how it is taken."""

from __future__ import annotations

import asyncio
import json

from automate.runtime.state import MAX_BATCH, WRITES, plan_batch, rows_json, take_batch


def test_a_batch_groups_writes_by_kind_and_knows_whose_status_it_sets() -> None:
    plan = plan_batch([
        [("create_execution", {"id": "e1", "tenant": "t"})],
        [("record_step", {"execution_id": "e2", "step_id": "a"}),
         ("record_step", {"execution_id": "e2", "step_id": "b"})],
        [("record_step", {"execution_id": "e3", "step_id": "a"}),
         ("finish_execution", {"id": "e3", "status": "SUCCESS"})],
        [("run_execution", {"id": "e4", "steps": []})],
    ])
    assert list(plan.groups) == list(WRITES)  # statements run in this order
    assert [r["step_id"] for r in plan.groups["record_step"]] == ["a", "b", "a"]
    assert [r["id"] for r in plan.groups["create_execution"]] == ["e1"]
    assert plan.groups["start_execution"] == []
    assert plan.changing == {"e1", "e3", "e4"}  # their statuses come back from the writes
    assert plan.steps_only == {"e2"}  # read after the writes


def test_rows_go_as_one_json_array_even_beyond_orjsons_integers() -> None:
    rows = [{"id": "e1", "output": {"n": 1, "big": 2**70, "text": "ü"}}]
    assert json.loads(rows_json(rows)) == rows


def test_a_batch_takes_what_is_queued_without_waiting_up_to_its_size() -> None:
    async def run() -> tuple[list[int], list[int], int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(MAX_BATCH + 7):
            queue.put_nowait(n)
        first = await take_batch(queue)
        second = await take_batch(queue)
        waiting = asyncio.ensure_future(take_batch(queue))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # nothing queued: it waits for one item
        queue.put_nowait(99)
        return first, second, len(await waiting)

    first, second, third = asyncio.run(run())
    assert first == list(range(MAX_BATCH))
    assert second == list(range(MAX_BATCH, MAX_BATCH + 7))
    assert third == 1
