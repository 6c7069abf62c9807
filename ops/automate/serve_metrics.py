"""``automate serve``'s Prometheus metrics: HTTP requests by route and status, and their duration.

The route label is the route's template (``/hooks/{tenant}/{connection}/{trigger}``), never the path
asked for: a sender choosing paths cannot grow the series (a path no route matches counts as
``unmatched``). Served on a port of their own (``--metrics-port``, ``AUTOMATE_METRICS_ADDRESS``), not on
the webhook listener, which may face the internet.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["ServeMetrics", "measured"]

log = logging.getLogger("automate.serve.metrics")

_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
UNMATCHED = "unmatched"


class ServeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.requests = Counter("automate_serve_requests", "HTTP requests answered, by route (its template) "
                                "and status.", ["route", "status"], registry=r)
        self.seconds = Histogram("automate_serve_request_seconds", "From a request's arrival to its "
                                 "answer, by route.", ["route"], registry=r, buckets=_SECONDS)

    def answered(self, route: str, status: int, seconds: float) -> None:
        try:
            self.requests.labels(route, str(status)).inc()
            self.seconds.labels(route).observe(max(0.0, seconds))
        except Exception as exc:  # a metric is not worth a request
            log.debug("request not counted: %s", exc)


def measured(app: Any, metrics: ServeMetrics) -> Any:
    """``app`` (a Starlette application) with every HTTP request counted in ``metrics``."""
    from starlette.routing import Match

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        # (PARTIAL: the path of a route, another method: answered 405 under the route's template)
        matches = {r.path: r.matches(scope)[0] for r in app.routes}
        route = next((path for path, m in matches.items() if m == Match.FULL),
                     next((path for path, m in matches.items() if m == Match.PARTIAL), UNMATCHED))
        status = 500  # an application that raises before answering: what the server sends

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            metrics.answered(route, status, time.perf_counter() - started)

    return wrapper
