"""Waiting until the services ``automate migrate`` talks to answer (``--wait``): a container started
beside them (docker-compose.kafka.yml) or an init job runs the migration once they are up, instead of
failing while they start."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from automate.config import Settings
from automate.errors import AutomateError, ServiceError
from automate.redact import mask_url
from automate.stack.base import http_json
from automate.transport import broker_ready

__all__ = ["wait_for_services"]


def _answers(check: Callable[[], object]) -> bool:
    try:
        check()
    except (AutomateError, psycopg.Error, OSError):
        return False
    return True


def wait_for_services(settings: Settings, timeout: float, *, registry: bool, connect: bool,
                      interval: float = 1.0) -> None:
    """Return once PostgreSQL, Kafka and (when asked) the registry and Kafka Connect answer.

    Raises:
        ServiceError: ``timeout`` seconds passed; the message names what did not answer.
    """
    checks: dict[str, Callable[[], bool]] = {
        "PostgreSQL": lambda: _answers(lambda: psycopg.connect(settings.dsn, connect_timeout=3).close()),
        f"Kafka at {settings.bootstrap_servers}": lambda: broker_ready(settings.bootstrap_servers, 3.0,
                                                                       settings=settings),
    }
    if registry:
        checks[f"the registry at {mask_url(settings.registry_url)}"] = lambda: _answers(
            lambda: http_json("GET", f"{settings.registry_url}/subjects", timeout=3))
    if connect:
        checks[f"Kafka Connect at {mask_url(settings.connect_base_url)}"] = lambda: _answers(
            lambda: http_json("GET", f"{settings.connect_base_url}/connector-plugins", timeout=3))
    deadline = time.monotonic() + timeout
    waiting = list(checks)
    while True:
        waiting = [name for name in waiting if not checks[name]()]
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise ServiceError(f"not answering after {timeout:.0f}s: {', '.join(waiting)}")
        time.sleep(interval)
