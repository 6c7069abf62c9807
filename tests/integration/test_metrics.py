"""Every worker's metrics, as the local Prometheus scrapes them: the relay, processors, runtime worker and
retry worker run as processes of their own (each serving /metrics on a free port and announcing it to
Prometheus through the file_sd targets file), events flow through a workflow whose HTTP call fails once
and succeeds through the 1 s retry tier, and a poison record is dead-lettered; then each figure is read
back from Prometheus with PromQL, filtered to this test's processes by their ``pid`` label."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from automate.config import Settings
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
        for n in range(EVENTS):
            emit_event("metered.tick", {"n": n}, settings=s)
        poison = Producer({"bootstrap.servers": s.bootstrap_servers})
        poison.produce(events_topic(s), value=b"\x00not avro", key=b"poison")
        poison.flush(30)
        with WorkerSet(s, log_dir=tmp_path) as workers:
            pid = {kind: str(procs[0].pid) for kind, procs in workers.procs.items()}

            def of(kind: str, promql: str) -> float:
                promql = promql.replace("@2N", str(2 * EVENTS)).replace("@N", str(EVENTS))
                return _value(s, promql.replace("PID", f'pid="{pid[kind]}"'))

            for kind in pid:
                assert_eventually(lambda k=kind: of(k, "up{PID}") == 1, timeout=60)  # type: ignore[misc]
            checks = {
                "relay": ["automate_relay_published_total{PID} == @N",
                          "automate_outbox_backlog{PID} == 0", "automate_outbox_oldest_seconds{PID} == 0"],
                "processors": ['automate_processor_requests_total{PID, workflow="metered"} == @N',
                               # (no CloudEvents headers: refused before it is read)
                               'automate_dead_letters_total{PID, source="processors", code="event.headers"}'
                               ' == 1'],
                "runtime": [
                    'automate_runtime_executions_started_total{PID, workflow="metered"} == @N',
                    'automate_runtime_executions_ended_total{PID, workflow="metered", status="SUCCESS"}'
                    ' == @N',
                    'sum(automate_runtime_step_seconds_count{PID, workflow="metered", step="call"}) == @2N',
                    'automate_runtime_step_seconds_count{PID, workflow="metered", step="call",'
                    ' status="RETRYING"} == @N',
                    'automate_runtime_deferred_total{PID, workflow="metered", reason="retry", tier="1s"}'
                    ' == @N',
                    'automate_runtime_request_wait_seconds_count{PID, workflow="metered"} == @N',
                    f'sum(automate_consumer_lag{{PID, group="{s.topic_prefix}-runtime"}}) == 0'],
                "retry-worker": ['automate_retry_released_total{PID, tier="1s"} == @N',
                                 'automate_retry_late_seconds_count{PID, tier="1s"} == @N',
                                 'automate_retry_held{PID, tier="1s"} == 0'],
            }
            for kind, queries in checks.items():
                for promql in queries:
                    # (a comparison filters: the series is there once the figure is reached)
                    assert_eventually(lambda k=kind, q=promql: of(k, q) >= 0, timeout=90)  # type: ignore[misc]
    assert len(peer.requests) == 2 * EVENTS
