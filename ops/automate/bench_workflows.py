"""The workflows `automate bench` runs, and the HTTP service its realistic workflow calls.

``noop``: three ``core.noop`` steps in a row (what the pipeline itself costs). ``realistic``: what a typical
automation does: templates a payload from the event, calls an HTTP service (``http.request``, with an
idempotency key), takes one of two ``when`` branches (the other is recorded SKIPPED) and joins them. The
service (:class:`BenchService`, run as a process of its own so that its CPU is counted apart and it does
not compete with the benchmark's clocks for the interpreter lock) answers after a few ms; for one event in
ten (``n % 10 == 0``) it answers 503 the first time it sees the step's idempotency key, so that step is
retried once through the 1 s retry tier and then succeeds: every execution ends SUCCESS.

Run as ``python -m automate.bench_workflows --latency-ms 3``: serves on a free port of 127.0.0.1 and
prints it on its first line; ``GET /stats`` answers ``{"requests": n, "refused": n}``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from automate.errors import CheckFailed

__all__ = ["FAIL_EVERY", "NOOP", "WORKFLOWS", "BenchService", "expected_retries", "realistic", "workflow"]

WORKFLOWS: Final = ("noop", "realistic")
FAIL_EVERY: Final = 10  # the events (n % FAIL_EVERY == 0) whose HTTP call fails once

NOOP: Final[dict[str, Any]] = {
    "slug": "bench-noop", "name": "Benchmark: three no-op steps",
    "trigger": {"event": "bench.tick"},
    "steps": [{"id": "a", "action": "core.noop"}, {"id": "b", "action": "core.noop", "needs": ["a"]},
              {"id": "c", "action": "core.noop", "needs": ["b"]}],
}


def realistic(url: str) -> dict[str, Any]:
    """The realistic workflow, calling the service at ``url``."""
    parity = {"%": [{"var": "event.payload.n"}, 2]}
    return {
        "slug": "bench-realistic",
        "name": "Benchmark: a templated HTTP call, a branch, a retry for one event in ten",
        "trigger": {"event": "bench.tick"},
        "steps": [
            {"id": "shape", "action": "core.transform", "input": {
                "n": "{{ event.payload.n }}",
                "label": "tick {{ event.payload.n }} of emitter {{ event.payload.emitter }}",
                "kind": "{{ 'even' if event.payload.n % 2 == 0 else 'odd' }}"}},
            {"id": "call", "needs": ["shape"], "action": "http.request", "input": {
                "method": "POST", "url": url, "idempotency": True, "timeout": 10,
                "json": {"n": "{{ event.payload.n }}", "execution": "{{ execution.id }}",
                         "label": "{{ steps.shape.output.label }}", "kind": "{{ steps.shape.output.kind }}"}},
             # 503 is retryable: the next attempt goes through the 1 s tier
             "retry": {"max_attempts": 3, "backoff": "fixed", "initial": "1s", "max": "1s", "jitter": 0}},
            {"id": "even", "needs": ["call"], "when": {"==": [parity, 0]}, "action": "core.transform",
             "input": {"accepted": "{{ steps.call.output.json.accepted }}",
                       "n": "{{ steps.shape.output.n }}"}},
            {"id": "odd", "needs": ["call"], "when": {"==": [parity, 1]}, "action": "core.noop"},
            {"id": "done", "needs": ["even", "odd"], "action": "core.noop"},
        ],
    }


def workflow(name: str, url: str | None) -> dict[str, Any]:
    """The definition of workflow ``name`` (one of :data:`WORKFLOWS`); ``url``: the service's."""
    return realistic(url or "") if name == "realistic" else NOOP


def expected_retries(shares: list[int]) -> int:
    """How many calls fail once when the emitters emit ``shares`` events each (``n`` counts from 0 in
    each emitter's share)."""
    return sum(math.ceil(share / FAIL_EVERY) for share in shares)


class _Server(ThreadingHTTPServer):
    # A real server's listen backlog: the default (5) refuses a runtime's burst of connections.
    request_queue_size = 1024
    daemon_threads = True

    def __init__(self, latency_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency_s = latency_s
        self.lock = threading.Lock()
        self.refused_keys: set[str] = set()
        self.requests = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps connections open for clients that reuse them
    server: _Server

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        with self.server.lock:
            stats = {"requests": self.server.requests, "refused": len(self.server.refused_keys)}
        self._answer(200, stats)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        key = self.headers.get("Idempotency-Key") or ""
        time.sleep(self.server.latency_s)
        n = int(body.get("n", -1))
        with self.server.lock:
            self.server.requests += 1
            refuse = n >= 0 and n % FAIL_EVERY == 0 and key not in self.server.refused_keys
            if refuse:
                self.server.refused_keys.add(key)
        if refuse:
            self._answer(503, {"error": "busy, try again"})
        else:
            self._answer(200, {"accepted": True, "n": n})

    def log_message(self, *args: Any) -> None:
        pass


class BenchService:
    """The realistic workflow's HTTP service, as a child process (see the module docstring)."""

    def __init__(self, latency_ms: float = 3.0) -> None:
        self.latency_ms = latency_ms
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def __enter__(self) -> BenchService:
        self.proc = subprocess.Popen([sys.executable, "-m", "automate.bench_workflows",
                                      "--latency-ms", str(self.latency_ms)],
                                     stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert self.proc.stdout is not None
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.__exit__()
            raise CheckFailed("the benchmark's HTTP service did not start "
                              "(python -m automate.bench_workflows)")
        self.url = f"http://127.0.0.1:{port}/call"
        return self

    def stats(self) -> dict[str, int]:
        """``{"requests": n, "refused": n}`` so far."""
        with urllib.request.urlopen(self.url.replace("/call", "/stats"), timeout=10) as answer:
            found: dict[str, int] = json.loads(answer.read())
        return found

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description="The benchmark's HTTP service (automate.bench_workflows).")
    parser.add_argument("--latency-ms", type=float, default=3.0)
    args = parser.parse_args()
    server = _Server(args.latency_ms / 1000)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
