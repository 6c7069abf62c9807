"""`automate bench` in small: each publisher with each workflow, 200 events, every execution SUCCESS, the
realistic workflow's one call in ten retried once, every hop of every event timed, the CPU of every
worker read; and nothing of the run's left behind (its database, topics and Debezium connector)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import psycopg
import pytest

from automate.bench import BenchConfig, run_bench
from automate.bench_report import HOPS
from automate.config import Settings
from automate.db.admin import DatabaseAdmin
from automate.stack.base import http_json
from automate.transport import admin

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EVENTS = 200


@pytest.mark.parametrize(("publisher", "workflow"), [
    ("debezium", "realistic"), ("relay", "realistic"), ("debezium", "noop"), ("relay", "noop"),
])
def test_a_small_bench_run(stack: Settings, tmp_path: Path, publisher: Any, workflow: Any) -> None:
    config = BenchConfig(events=EVENTS, publisher=publisher, workflow=workflow, limits=False, timeout_s=120)
    report = run_bench(stack, config, tmp_path / "logs")

    assert report["executions"] == {"SUCCESS": EVENTS}
    retries = report["retries"]
    if workflow == "realistic":  # 4 emitters of 50 events, n % 10 == 0 for 5 of each
        assert retries["attempts"] == retries["executions"] == retries["expected"] == 20
        assert retries["service_refused"] == 20
        assert retries["service_requests"] == EVENTS + 20 + 1  # and the warm-up's
    else:
        assert retries["attempts"] == 0 and "service_refused" not in retries
    assert report["hops_seen"] == dict.fromkeys(HOPS, EVENTS)
    for hop in HOPS:
        assert all(math.isfinite(v) for v in report["hops_ms"][hop].values()), hop
    cpu = report["cpu_s_per_1000_events"]
    publishing = "publisher-watch-0" if publisher == "debezium" else "relay-0"
    assert {"processors-0", "runtime-0", "retry-worker-0", publishing, "total"} <= cpu.keys()
    assert ("connect" in cpu) == (publisher == "debezium")
    assert ("http-service" in cpu) == (workflow == "realistic")

    gone = report["installation"]
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        assert not DatabaseAdmin(conn).exists(gone["database"])
    connectors = http_json("GET", f"{stack.connect_base_url}/connectors")
    assert not [c for c in connectors if str(c).startswith(gone["topic_prefix"] + ".")]
    topics = admin(stack).list_topics(timeout=30).topics
    assert not [t for t in topics if t.startswith(gone["topic_prefix"] + ".")]
