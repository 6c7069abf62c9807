"""Runtime benchmark on the local stack (`automate up` first), one worker in this process:

1. no-op steps/s with state in Postgres (executions of a 5-step linear core.noop workflow);
2. steps that sleep 100 ms: how many are in flight at once in one worker;
3. retry due-time precision: retries with a 1 s backoff through the retry tier (how late, never early).

    .venv/bin/python tests/bench/bench_runtime.py [--executions 1000] [--report FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import psycopg
from bench_common import emit_report, fresh_db

from automate.config import Settings, get_settings
from automate.records import Records
from automate.runtime.actions import registry
from automate.runtime.retry_worker import RetryWorker
from automate.runtime.worker import RuntimeWorker
from automate.runtime.workflows import validate
from automate.runtime.workflows.store import apply
from automate.topics import core_topics, ensure_topics
from automate.transport import AsyncProducer


def fresh(base: Settings) -> Settings:
    s = fresh_db(base, "automate_bench_runtime", topic_prefix=f"benchrt{uuid.uuid4().hex[:6]}",
                 publisher="relay")
    ensure_topics(s, core_topics(s), partitions=6)
    return s


def workflow(s: Settings, slug: str, steps: list[dict[str, Any]]) -> tuple[str, int]:
    spec = validate({"slug": slug, "name": slug, "steps": steps}, registry.names())
    with psycopg.connect(s.dsn) as conn:
        applied = apply(conn, spec, s)
    return str(applied.automation_id), applied.version


async def request(s: Settings, records: Records, producer: AsyncProducer, slug: str, automation_id: str,
                  version: int, n: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    sends = []
    for ident in ids:
        value = records.encode("ExecutionRequest", {
            "execution_id": ident, "tenant": s.tenant, "automation_id": automation_id,
            "workflow_slug": slug, "workflow_version": version, "event_id": None, "event_type": None,
            "context": "{}", "requested_at": int(time.time() * 1000)})
        sends.append(producer.send(s.topic(f"workflow.{slug}"), value, key=ident))
    await asyncio.gather(*sends)
    return ids


def finished(s: Settings, ids: list[str]) -> int:
    with psycopg.connect(s.dsn) as conn:
        row = conn.execute("SELECT count(*) FROM execution WHERE id = ANY(%s::uuid[]) AND status = 'SUCCESS'",
                           (ids,)).fetchone()
    return int(row[0]) if row else 0


async def until_done(s: Settings, ids: list[str], timeout: float = 600) -> float:
    began = time.monotonic()
    while finished(s, ids) < len(ids):
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"{finished(s, ids)}/{len(ids)} finished")
        await asyncio.sleep(0.2)
    return time.monotonic() - began


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    s = fresh(get_settings())
    records = Records.load(s)
    producer = AsyncProducer(s)
    worker = RuntimeWorker(s, concurrency=args.concurrency)
    retry = RetryWorker(s)
    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(retry.run())]
    report: dict[str, Any] = {}
    try:
        noop_id, noop_v = workflow(s, "noop", [{"id": f"s{i}", "action": "core.noop",
                                                **({"needs": [f"s{i - 1}"]} if i else {})} for i in range(5)])
        await until_done(s, await request(s, records, producer, "noop", noop_id, noop_v, 20))  # warm up
        ids = await request(s, records, producer, "noop", noop_id, noop_v, args.executions)
        seconds = await until_done(s, ids)
        report["noop"] = {"executions": len(ids), "steps": len(ids) * 5, "seconds": round(seconds, 2),
                          "steps_per_s": round(len(ids) * 5 / seconds)}

        sleep_id, sleep_v = workflow(s, "sleepy", [{"id": "nap", "action": "core.sleep",
                                                    "input": {"seconds": 0.1}}])
        ids = await request(s, records, producer, "sleepy", sleep_id, sleep_v, args.executions * 2)
        peak = 0
        began = time.monotonic()
        while finished(s, ids) < len(ids):
            peak = max(peak, worker.tracker.pending())
            await asyncio.sleep(0.05)
        seconds = time.monotonic() - began
        with psycopg.connect(s.dsn) as conn:
            spans = conn.execute("SELECT s.started_at, s.finished_at FROM step_run s JOIN execution e "
                                 "ON e.id = s.execution_id WHERE e.id = ANY(%s::uuid[])", (ids,)).fetchall()
        events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
        running = overlap = 0
        for _, delta in events:
            running += delta
            overlap = max(overlap, running)
        report["sleep_100ms"] = {"executions": len(ids), "seconds": round(seconds, 2),
                                 "peak_messages_in_flight": peak, "peak_steps_running_at_once": overlap}

        retry_id, retry_v = workflow(s, "retrying", [{"id": "call", "action": "core.fail",
                                                      "input": {"code": "http.503", "times": 1},
                                                      "retry": {"max_attempts": 2, "initial": "1s",
                                                                "jitter": 0}}])
        ids = await request(s, records, producer, "retrying", retry_id, retry_v, 200)
        await until_done(s, ids)
        late = sorted(retry.late_ms)
        report["retry_due_precision_ms"] = {
            "retries": len(late), "early": sum(1 for x in late if x < 0),
            "p50_late": round(statistics.median(late), 1),
            "p99_late": round(late[int(len(late) * 0.99) - 1], 1),
            "max_late": round(late[-1], 1)}
    finally:
        worker.stop()
        retry.stop()
        await asyncio.gather(*tasks)
        producer.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--report")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    emit_report(report, args.report)


if __name__ == "__main__":
    main()
