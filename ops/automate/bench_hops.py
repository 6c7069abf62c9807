"""What `automate bench` watches from the side: when each record reached Kafka, and the CPU each process
spent.

:class:`ArrivalClock` reads the events topic and the workflow topic as they fill and notes the moment each
record arrived (a record's Kafka timestamp is the time it was made, e.g. the emit's, so its arrival has to
be observed): per event (``ce_id`` header) and per execution request (its key, the execution id). It asks
the broker for whatever has come every 5 ms at most, so an arrival is noted up to about 5 ms late.

:class:`CpuSampler` reads ``/proc/<pid>/stat`` (user + system time, and that of its children that ended)
of the worker processes and the local stack's services before and after the running phase. Postgres is
the whole server (its postmaster and every backend), shared with whatever else uses it meanwhile.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from automate import transport
from automate.config import Settings
from automate.errors import CheckFailed
from automate.stack.process import alive, read_record

__all__ = ["ArrivalClock", "CpuSampler", "cpu_seconds", "stack_pids"]

_BEGINNING = -2  # librdkafka's OFFSET_BEGINNING
_TICK = os.sysconf("SC_CLK_TCK")


class ArrivalClock(threading.Thread):
    """Arrival times (epoch s) of the events topic's records by event id (:attr:`events`) and of the
    workflow topic's by execution id (:attr:`requests`; the first record of each: a step task re-produced
    for a retry comes later under the same key)."""

    def __init__(self, settings: Settings, events_topic: str, workflow_topic: str) -> None:
        super().__init__(daemon=True, name="bench-arrivals")
        self.settings = settings
        self.topics = (events_topic, workflow_topic)
        self.events: dict[str, float] = {}
        self.requests: dict[str, float] = {}
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            self._read()
        except BaseException as exc:  # surfaced by the benchmark
            self.failure = exc

    def _read(self) -> None:
        # Assigned, not subscribed: no group to join, so it reads from the first moment.
        consumer = transport.consumer(self.settings, "automate-bench-arrivals",
                                      **{"fetch.wait.max.ms": 5, "fetch.min.bytes": 1})
        try:
            events_topic = self.topics[0]
            consumer.assign([transport.TopicPartition(topic, p, _BEGINNING) for topic in self.topics
                             for p in _partitions(consumer, topic)])
            while not self.stopping.is_set():
                batch = transport.take(consumer, 10_000, 0.1)
                now = time.time()
                for msg in batch:
                    if msg.error():
                        continue
                    if msg.topic() == events_topic:
                        headers: Any = msg.headers() or []  # a list of (name, value) from a consumer
                        for name, value in headers:
                            if name == "ce_id" and isinstance(value, bytes):
                                self.events.setdefault(value.decode(), now)
                    else:
                        key = msg.key()
                        if isinstance(key, bytes):
                            self.requests.setdefault(key.decode(), now)
        finally:
            consumer.close()

    def settle(self, event_ids: Iterable[str], execution_ids: Iterable[str], timeout: float = 30.0) -> None:
        """Wait (up to ``timeout``) until the arrivals of ``event_ids`` and ``execution_ids`` were noted:
        the reader may trail the pipeline it watches."""
        wanted_events, wanted_requests = set(event_ids), set(execution_ids)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.is_alive():
            if wanted_events <= self.events.keys() and wanted_requests <= self.requests.keys():
                return
            time.sleep(0.1)

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


def cpu_seconds(pid: int, *, with_children: bool = False) -> float | None:
    """User + system CPU seconds of ``pid`` and of its children that have ended; ``with_children``: and of
    its living children too (a Postgres server's backends). None when it is gone."""
    def fields(one: int) -> list[str] | None:
        try:
            raw = Path(f"/proc/{one}/stat").read_text()
        except OSError:
            return None
        return raw[raw.rindex(")") + 2:].split()  # field 3 onwards: the name may hold spaces

    own = fields(pid)
    if own is None:
        return None
    ticks = sum(int(own[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    if with_children:
        for entry in Path("/proc").iterdir():
            child = fields(int(entry.name)) if entry.name.isdigit() else None
            if child is not None and child[1] == str(pid):
                ticks += sum(int(child[i]) for i in (11, 12))
    return ticks / _TICK


def stack_pids(settings: Settings, *, connect: bool = True) -> dict[str, int]:
    """The pids of the local stack's Postgres, Kafka and (``connect``) Connect that run on this machine
    (none for a stack elsewhere)."""
    found: dict[str, int] = {}
    for name in ("postgres", "kafka", "connect")[:3 if connect else 2]:
        record = read_record(settings.home / "run" / f"{name}.json")
        if record is not None and alive(record):
            found[name] = record.pid
    return found


class CpuSampler:
    """CPU seconds of named processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self.before: dict[str, float] = {}
        self.spent: dict[str, float] = {}
        self.wall_s = 0.0
        self._began = 0.0

    def _read(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            seconds = cpu_seconds(pid, with_children=name == "postgres")
            if seconds is not None:
                out[name] = seconds
        return out

    def start(self) -> None:
        self.before = self._read()
        self._began = time.monotonic()

    def stop(self) -> None:
        after = self._read()
        self.wall_s = time.monotonic() - self._began
        self.spent = {name: after[name] - self.before[name] for name in after if name in self.before}

    def per_1000(self, events: int) -> dict[str, float]:
        """CPU seconds per 1,000 events of each process, and their total."""
        if not events:
            return {}
        out = {name: round(spent * 1000 / events, 3) for name, spent in sorted(self.spent.items())}
        out["total"] = round(sum(self.spent.values()) * 1000 / events, 3)
        return out


def _partitions(consumer: Any, topic: str, timeout: float = 30.0) -> list[int]:
    """The partitions of ``topic``, asked of the broker until it knows them: a topic made a moment ago
    may be missing from the metadata of the broker that answers first."""
    deadline = time.monotonic() + timeout
    while True:
        found = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if found is not None and found.error is None and found.partitions:
            return sorted(found.partitions)
        if time.monotonic() > deadline:
            raise CheckFailed(f"topic {topic} has no partitions after {timeout:.0f}s")
        time.sleep(0.2)
