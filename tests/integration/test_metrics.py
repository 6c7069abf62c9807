"""Every worker's metrics, as the local Prometheus scrapes them: the relay, processors, runtime worker and
retry worker run as processes of their own (each serving /metrics on a free port and announcing it to
Prometheus through the file_sd targets file), events flow through a workflow whose HTTP call fails once
and succeeds through the 1 s retry tier (and, for one event, fails for good), and a poison record is
dead-lettered; then each figure is read back from Prometheus with PromQL, filtered to this test's
processes by their ``pid`` label, and every query of every Grafana dashboard panel
(:mod:`automate.dashboards`) is run against the same Prometheus and must give numbers, as
``automate top --once`` shows them."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from automate.config import Settings
from automate.dashboards import DASHBOARDS
from automate.events import emit_event
from automate.stack.base import http_json
from automate.supervise import WorkerSet
from automate.topics import events_topic
from tests.integration.peers import Recorded, http_peer
from tests.integration.runtime_support import apply_workflow
from tests.support import assert_eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EVENTS = 6


def _query(settings: Settings, promql: str) -> list[dict[str, Any]]:
    from urllib.parse import quote

    answer = http_json("GET", f"{settings.prometheus_base_url}/api/v1/query?query={quote(promql)}")
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def _value(settings: Settings, promql: str) -> float:
    """The query's one value (AssertionError while Prometheus has none: to be asked again)."""
    result = _query(settings, promql)
    assert len(result) == 1, (promql, result)
    return float(result[0]["value"][1])


def test_every_worker_serves_its_figures_to_prometheus(db_settings: Settings, tmp_path: Path) -> None:
    s = Settings(**{**db_settings.model_dump(), "http_allowlist": ("127.0.0.1/32",)})
    seen: set[bytes] = set()
    lock = threading.Lock()

    def once_unavailable(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        if b"-1" in request.body:
            return 400, {}, b""  # refused for good: the execution fails
        with lock:
            first = request.body not in seen
            seen.add(request.body)
        return (503, {}, b"") if first else (200, {"Content-Type": "application/json"}, b"{}")

    with http_peer(once_unavailable) as peer:
        apply_workflow(s, {"slug": "metered", "name": "metered", "trigger": {"event": "metered.tick"},
                           "steps": [{"id": "call", "action": "http.request",
                                      "input": {"url": peer.url, "method": "POST",
                                                "json": {"n": "{{ event.payload.n }}"}},
                                      "retry": {"max_attempts": 3, "backoff": "fixed", "initial": "1s",
                                                "max": "1s", "jitter": 0}}]})
        for n in [*range(EVENTS), -1]:
            emit_event("metered.tick", {"n": n}, settings=s)
        poison = Producer({"bootstrap.servers": s.bootstrap_servers})
        poison.produce(events_topic(s), value=b"\x00not avro", key=b"poison")
        poison.flush(30)
        with WorkerSet(s, log_dir=tmp_path) as workers:
            pid = {kind: str(procs[0].pid) for kind, procs in workers.procs.items()}

            def of(kind: str, promql: str) -> float:
                promql = (promql.replace("@2N+1", str(2 * EVENTS + 1)).replace("@N+1", str(EVENTS + 1))
                          .replace("@N", str(EVENTS)))
                return _value(s, promql.replace("PID", f'pid="{pid[kind]}"'))

            for kind in pid:
                assert_eventually(lambda k=kind: of(k, "up{PID}") == 1, timeout=60)  # type: ignore[misc]
            checks = {
                "relay": ["automate_relay_published_total{PID} == @N+1",
                          "automate_outbox_backlog{PID} == 0", "automate_outbox_oldest_seconds{PID} == 0"],
                "processors": ['automate_processor_requests_total{PID, workflow="metered"} == @N+1',
                               # (no CloudEvents headers: refused before it is read)
                               'automate_dead_letters_total{PID, source="processors", code="event.headers"}'
                               ' == 1'],
                "runtime": [
                    'automate_runtime_executions_started_total{PID, workflow="metered"} == @N+1',
                    'automate_runtime_executions_ended_total{PID, workflow="metered", status="SUCCESS"}'
                    ' == @N',
                    'automate_runtime_executions_ended_total{PID, workflow="metered", status="FAILED"} == 1',
                    'automate_dead_letters_total{PID, source="runtime"} == 1',
                    'sum(automate_runtime_step_seconds_count{PID, workflow="metered", step="call"}) == @2N+1',
                    'automate_runtime_step_seconds_count{PID, workflow="metered", step="call",'
                    ' status="RETRYING"} == @N',
                    'automate_runtime_deferred_total{PID, workflow="metered", reason="retry", tier="1s"}'
                    ' == @N',
                    'automate_runtime_request_wait_seconds_count{PID, workflow="metered"} == @N+1',
                    'process_resident_memory_bytes{PID} > 0',  # the default registry's too (LLM, process)
                    f'sum(automate_consumer_lag{{PID, group="{s.topic_prefix}-runtime"}}) == 0'],
                "retry-worker": ['automate_retry_released_total{PID, tier="1s"} == @N',
                                 'automate_retry_late_seconds_count{PID, tier="1s"} == @N',
                                 'automate_retry_held{PID, tier="1s"} == 0'],
            }
            for kind, queries in checks.items():
                for promql in queries:
                    # (a comparison filters: the series is there once the figure is reached)
                    assert_eventually(lambda k=kind, q=promql: of(k, q) >= 0, timeout=90)  # type: ignore[misc]
            # Every panel's every query gives numbers (its rates over the minute of this traffic; series of
            # workers that stopped within that minute may add a NaN quantile of their own).
            # A rate needs its series to grow between two scrapes: a trickle of events (one in four failing
            # for good) and poison records meanwhile, each query asked again for up to 40 s.
            stop = threading.Event()

            def trickle() -> None:
                i = 0
                while not stop.wait(0.5):
                    emit_event("metered.tick", {"n": -1 if i % 4 == 0 else 1000 + i}, settings=s)
                    if i % 4 == 0:
                        poison.produce(events_topic(s), value=b"\x00not avro", key=b"poison")
                        poison.flush(10)
                    i += 1

            def numbers(expr: str) -> bool:
                values = [float(series["value"][1]) for series in _query(s, expr)]
                assert any(math.isfinite(v) for v in values), (expr, values)
                return True

            emitter = threading.Thread(target=trickle, daemon=True)
            emitter.start()
            try:
                for dashboard in DASHBOARDS:
                    for panel in dashboard.panels:
                        for target in panel.targets:
                            assert_eventually(lambda e=target.expr: numbers(e), timeout=40)  # type: ignore[misc]
            finally:
                stop.set()
                emitter.join(10)
            # The same figures in the terminal, for operators without Grafana.
            shown = subprocess.run([sys.executable, "-m", "automate.cli", "top", "--once"],
                                   capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "COLUMNS": "200"})
            assert shown.returncode == 0, shown.stderr
            assert "Executions started and ended, by workflow" in shown.stdout
            assert "SUCCESS metered" in shown.stdout and "started metered" in shown.stdout, shown.stdout
    assert len(peer.requests) >= 2 * EVENTS + 1
