"""The suite's own check: a healthy pipeline runs the other tenant's canary, and a dead worker is seen."""

from __future__ import annotations

from tests.hostile.pipeline import LivePipeline


def test_the_canary_runs_through_the_live_workers(live: LivePipeline) -> None:
    live.assert_healthy()
    assert {kind for kind in live.workers.procs} == {"relay", "processors", "runtime", "retry-worker"}
