"""`make soak`: the pipeline under steady load for a long time, to find what grows.

In a database and topics of its own (dropped afterwards), with every worker as its own process (relay,
processors, runtime, retry worker), events are emitted at a steady rate (default 500/s for 30 minutes) to
two automations: the benchmark's three no-op steps, and one with a rule, templates and, for one event in
ten, a step that fails once and succeeds through the 1 s retry tier. Every 10 s it samples each worker's
resident memory (``VmRSS``), each consumer group's lag (committed offset against the high watermark, summed
over partitions) and the outbox backlog, as JSON lines. At the end it reports, per worker, the RSS after
warm-up against the RSS at the end (growth in %), and the largest and last lag of each group.

    python tests/bench/soak.py [--minutes 30] [--rate 500] [--warm-up 5] [--out soak.jsonl]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from automate import transport
from automate.bench import WORKFLOW, cleanup, fresh_database, warm_up
from automate.config import get_settings
from automate.db import connect
from automate.events import emit_event
from automate.runtime.actions import registry
from automate.runtime.workflows import validate
from automate.runtime.workflows.store import apply
from automate.supervise import WorkerSet
from automate.topics import RETRY_TIERS, retry_topic

FLAKY = {
    "slug": "soak-shaped", "name": "Soak: a rule, templates and a retried step",
    "trigger": {"event": "bench.tick", "rule": {"==": [{"%": [{"var": "n"}, 2]}, 0]}},
    "steps": [
        {"id": "shape", "action": "core.noop",
         "input": {"label": "tick {{ event.payload.n }} from {{ event.payload.emitter }}"}},
        {"id": "flaky", "needs": ["shape"], "action": "core.fail",
         "when": {"==": [{"%": [{"var": "event.payload.n"}, 10]}, 0]},
         "input": {"times": 1, "code": "soak.transient", "retryable": True},
         "retry": {"max_attempts": 3, "backoff": "fixed", "initial": "1s"}},
    ],
}


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def group_lag(settings: Any, group: str, topics: list[str]) -> int:
    """Records of ``topics`` the group has not committed yet, summed over partitions."""
    marks = transport.high_watermarks(settings, topics)
    if not marks:
        return 0
    reader = transport.consumer(settings, group)
    try:
        committed = reader.committed([transport.TopicPartition(t, p) for t, p in marks], timeout=10)
    finally:
        reader.close()
    lag = 0
    for tp in committed:
        high = marks[(tp.topic, tp.partition)]
        # (The watermarks are read just before the commits: a group that moved on meanwhile reads 0.)
        lag += max(0, high - tp.offset) if tp.offset >= 0 else high
    return lag


def emitter(settings: Any, rate: float, stop: threading.Event, counts: list[int]) -> None:
    """Emit ``bench.tick`` at ``rate`` events/s, what is due each pass in one transaction."""
    with connect(settings, application_name="automate-soak-emit") as conn:
        began = time.perf_counter()
        n = 0
        while not stop.is_set():
            due = int((time.perf_counter() - began) * rate)
            if due <= n:
                time.sleep(0.005)
                continue
            for k in range(n, min(due, n + 200)):
                emit_event("bench.tick", {"n": k, "emitter": 0}, connection=conn, settings=settings)
            conn.commit()
            n = min(due, n + 200)
            counts[0] = n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to emit (default 30)")
    parser.add_argument("--rate", type=float, default=500.0, help="events per second (default 500)")
    parser.add_argument("--warm-up", type=float, default=5.0,
                        help="minutes after which RSS growth is measured (default 5)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--out", type=Path, default=Path("soak.jsonl"), help="the samples, as JSON lines")
    args = parser.parse_args()

    base = get_settings()
    prefix = f"soak{uuid.uuid4().hex[:8]}"
    settings = fresh_database(base, "automate_soak", prefix)
    groups = {f"{prefix}-processors": [settings.topic("events")]}
    log_dir = Path(base.home) / "logs" / "soak"
    samples: list[dict[str, Any]] = []
    statuses: dict[str, int] = {}
    try:
        with connect(settings) as conn:
            for definition in (WORKFLOW, FLAKY):
                apply(conn, validate(definition, registry.names()), settings)
        listed = transport.admin(settings).list_topics(timeout=10).topics
        groups[f"{prefix}-runtime"] = sorted(t for t in listed if t.startswith(settings.topic("workflow.")))
        groups[f"{prefix}-retry"] = [retry_topic(settings, tier) for tier in RETRY_TIERS]
        print(json.dumps({"groups": groups}), flush=True)
        workers = WorkerSet(settings, log_dir)
        with workers, args.out.open("w") as out:
            warm_up(settings, workers)
            stop = threading.Event()
            counts = [0]
            thread = threading.Thread(target=emitter, args=(settings, args.rate, stop, counts), daemon=True)
            began = time.monotonic()
            thread.start()
            while time.monotonic() - began < args.minutes * 60:
                time.sleep(args.interval)
                dead = workers.dead()
                with connect(settings, autocommit=True) as conn:
                    backlog = conn.execute("SELECT count(*) FROM automate_outbox").fetchone()
                sample = {
                    "t": round(time.monotonic() - began, 1), "emitted": counts[0],
                    "rss_kib": {f"{kind}-{i}": rss_kib(p.pid) for kind, procs in workers.procs.items()
                                for i, p in enumerate(procs)},
                    "lag": {group: group_lag(settings, group, topics) for group, topics in groups.items()},
                    "outbox": int(backlog[0]) if backlog else None, "dead": dead,
                }
                samples.append(sample)
                out.write(json.dumps(sample) + "\n")
                out.flush()
                print(json.dumps(sample), flush=True)
                if dead:
                    break
            stop.set()
            thread.join(30)
            time.sleep(args.interval)  # the last events' executions finish
            with connect(settings, autocommit=True) as conn:
                statuses = dict(conn.execute("SELECT status, count(*) FROM execution GROUP BY status"))
    finally:
        cleanup(base, settings, "automate_soak")
    print(json.dumps({**summary(samples, args.warm_up * 60), "executions": statuses}, indent=2))
    return 0 if samples and not samples[-1]["dead"] else 1


def summary(samples: list[dict[str, Any]], warm_up_s: float) -> dict[str, Any]:
    """Per worker: median RSS of the minute after warm-up against the last minute's; per group: lag."""
    after = [s for s in samples if warm_up_s <= s["t"] < warm_up_s + 60] or samples[:6]
    last = [s for s in samples if s["t"] >= samples[-1]["t"] - 60] if samples else []
    rss: dict[str, Any] = {}
    for worker in samples[0]["rss_kib"] if samples else []:
        start = statistics.median(s["rss_kib"][worker] or 0 for s in after)
        end = statistics.median(s["rss_kib"][worker] or 0 for s in last)
        rss[worker] = {"after_warm_up_mib": round(start / 1024, 1), "end_mib": round(end / 1024, 1),
                       "growth_pct": round((end - start) / start * 100, 1) if start else None}
    lag = {group: {"max": max(s["lag"][group] for s in samples), "last": samples[-1]["lag"][group]}
           for group in (samples[0]["lag"] if samples else {})}
    return {"samples": len(samples), "seconds": samples[-1]["t"] if samples else 0,
            "emitted": samples[-1]["emitted"] if samples else 0, "rss": rss, "lag": lag,
            "outbox_max": max((s["outbox"] or 0) for s in samples) if samples else None}


if __name__ == "__main__":
    sys.exit(main())
