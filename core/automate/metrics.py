"""Serving a worker's Prometheus metrics and announcing them to the local Prometheus.

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
from pathlib import Path
from typing import Any

from automate.config import Settings

__all__ = ["serve_metrics", "targets_file"]


def targets_file(settings: Settings) -> Path:
    """The file_sd JSON the local Prometheus reads (written by ``automate up``)."""
    return settings.home / "conf" / "prometheus" / "targets.json"


def serve_metrics(settings: Settings, job: str, port: int = 0, *, registry: Any = None) -> int:
    """Serve ``/metrics`` on 127.0.0.1:``port`` (0: any free port); returns the port."""
    from prometheus_client import REGISTRY, start_http_server

    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry or REGISTRY)
    bound = int(server.server_address[1])
    target = f"127.0.0.1:{bound}"
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
