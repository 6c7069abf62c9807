"""Serving a worker's Prometheus metrics and announcing them to the local Prometheus; what every worker's
metrics share (label values bounded, consumer lag).

A worker calls :func:`serve_metrics` once: it starts prometheus_client's HTTP server (port 0 picks a free
one) and, when the local stack's Prometheus runs from ``settings.home``, adds the endpoint to its file_sd
targets file so the worker is scraped within seconds, without a reload. The entry is removed when the
process exits; entries of processes that died without cleaning up are dropped by the next writer.
Needs the ``processors`` or ``runtime`` extra (prometheus-client).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import re
from pathlib import Path
from typing import Any

from automate.config import Settings
from automate.errors import ErrorCodes

__all__ = [
    "OTHER",
    "BoundedValues",
    "ConsumerLag",
    "ErrorCodeLabel",
    "consumer_lag_gauge",
    "dead_letters_counter",
    "serve_metrics",
    "targets_file",
]

OTHER = "_other"


class BoundedValues:
    """One label's values named by tenants (tenants, workflow slugs, step ids, error codes a workflow
    chooses): the first ``limit`` distinct ones as they are (cut to ``max_length`` characters), every later
    one as :data:`OTHER`, so a tenant applying workflows without end cannot grow a worker's series (and
    Prometheus's memory) without end. Give each label a budget of its own, and feed it only values the
    worker has checked (a record's word is anyone's who can produce to the topic)."""

    def __init__(self, limit: int = 500, max_length: int = 64) -> None:
        self.limit = limit
        self.max_length = max_length
        self._kept: set[str] = set()

    def __call__(self, value: str) -> str:
        value = value[:self.max_length]
        if value in self._kept:
            return value
        if len(self._kept) < self.limit:
            self._kept.add(value)
            return value
        return OTHER


def consumer_lag_gauge(registry: Any) -> Any:
    """``automate_consumer_lag{group, topic}``, in ``registry`` (kept up to date by :class:`ConsumerLag`)."""
    from prometheus_client import Gauge

    return Gauge("automate_consumer_lag", "Records not yet consumed, by consumer group and topic, of the "
                 "partitions this worker holds (sum by group and topic for the group's).", ["group", "topic"],
                 registry=registry)


_HTTP_STATUS = re.compile(r"http\.[1-5][0-9][0-9]")
_CODES = frozenset(str(code) for code in ErrorCodes)


class ErrorCodeLabel:
    """An error code as a label value: the project's codes and ``http.<status>`` as they are, the codes
    workflows choose (``core.fail``) through a :class:`BoundedValues` of their own."""

    def __init__(self, limit: int = 100) -> None:
        self._chosen = BoundedValues(limit)

    def __call__(self, code: str) -> str:
        return code if code in _CODES or _HTTP_STATUS.fullmatch(code) else self._chosen(code)


def dead_letters_counter(registry: Any) -> Any:
    """``automate_dead_letters{source, code}``: every worker's dead letters, by reason."""
    from prometheus_client import Counter

    return Counter("automate_dead_letters", "Records sent to the dead-letter topic, by the worker that sent "
                   "them (processors, runtime, retry) and the reason's code.", ["source", "code"],
                   registry=registry)


class ConsumerLag:
    """Keeps :func:`consumer_lag_gauge` up to date for one consumer: each worker of a group reports the
    partitions it holds (``sum by (group, topic)`` gives the group's)."""

    def __init__(self, gauge: Any, group: str) -> None:
        self.gauge = gauge
        self.group = group
        self._topics: set[str] = set()

    def update(self, consumer: Any) -> dict[tuple[str, int], int]:
        """Read the lag of ``consumer``'s assignment (from the high watermarks its fetches brought: no
        request to the broker); returns it per partition. Call from the consumer's thread."""
        by_partition: dict[tuple[str, int], int] = {}
        assignment = consumer.assignment()
        for tp in consumer.position(assignment) if assignment else []:
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high is None or high < 0 or tp.offset < 0:
                continue
            by_partition[(tp.topic, tp.partition)] = max(0, high - tp.offset)
        by_topic: dict[str, int] = {}
        for (topic, _partition), lag in by_partition.items():
            by_topic[topic] = by_topic.get(topic, 0) + lag
        for gone in self._topics - by_topic.keys():  # moved to another worker: no longer ours to report
            self.gauge.remove(self.group, gone)
        for topic, lag in by_topic.items():
            self.gauge.labels(self.group, topic).set(lag)
        self._topics = set(by_topic)
        return by_partition


def targets_file(settings: Settings) -> Path:
    """The file_sd JSON the local Prometheus reads (written by ``automate up``)."""
    return settings.home / "conf" / "prometheus" / "targets.json"


class _Also:
    """Another registry's metrics, collected with a worker's own (the process's default registry: the
    LLM calls' metrics, the process's CPU and memory)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        return self.registry.collect()


def serve_metrics(settings: Settings, job: str, port: int = 0, *, registry: Any = None,
                  with_default: bool = False) -> int:
    """Serve ``/metrics`` on ``settings.metrics_address`` (``AUTOMATE_METRICS_ADDRESS``, 127.0.0.1 by
    default) and ``port`` (0: any free port): ``registry`` (default: the process's default registry), and
    (``with_default``) the default registry's metrics beside it; returns the port."""
    from prometheus_client import REGISTRY, start_http_server

    if registry is not None and with_default:
        registry.register(_Also(REGISTRY))
    server, _thread = start_http_server(port, addr=settings.metrics_address, registry=registry or REGISTRY)
    bound = int(server.server_address[1])
    target = f"127.0.0.1:{bound}"  # (the local Prometheus: on this machine)
    path = targets_file(settings)
    if path.is_file():
        _update(path, add={"targets": [target], "labels": {"job": job, "pid": str(os.getpid())}})
        atexit.register(_update, path, remove=target)
    return bound


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _update(path: Path, *, add: dict[str, Any] | None = None, remove: str | None = None) -> None:
    """Rewrite the targets file under an exclusive lock (temp file, then rename: Prometheus never reads
    a half-written file)."""
    with contextlib.suppress(OSError), open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            groups = json.loads(path.read_text() or "[]")
        except (OSError, ValueError):
            groups = []
        kept = [g for g in groups if isinstance(g, dict)
                and _alive(str(g.get("labels", {}).get("pid", "0")))
                and remove not in g.get("targets", [])]
        if add is not None:
            kept.append(add)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(kept, indent=1))
        os.replace(tmp, path)
