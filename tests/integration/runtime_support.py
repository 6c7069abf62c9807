"""Helpers for runtime tests: apply a workflow, run the Kafka workers in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import psycopg

from automate.config import Settings
from automate.runtime.actions import registry
from automate.runtime.retry_worker import RetryWorker
from automate.runtime.worker import RuntimeWorker
from automate.runtime.workflows import validate
from automate.runtime.workflows.store import apply


def apply_workflow(settings: Settings, definition: dict[str, Any]) -> str:
    """Validate and apply a workflow definition; returns the automation id."""
    spec = validate(definition, registry.names())
    with psycopg.connect(settings.dsn) as conn:
        applied = apply(conn, spec, settings)
    return str(applied.automation_id)


def status_of(settings: Settings, execution_id: str) -> str:
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute("SELECT status FROM execution WHERE id = %s", (execution_id,)).fetchone()
    assert row is not None
    return str(row[0])


def step_runs(settings: Settings, execution_id: str) -> list[tuple[str, int, str, str | None]]:
    with psycopg.connect(settings.dsn) as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            "SELECT step_id, attempt, status, error_code FROM step_run WHERE execution_id = %s "
            "ORDER BY finished_at, step_id", (execution_id,)).fetchall()]


class Workers:
    """The runtime worker and the retry worker of ``settings``, in a thread of their own."""

    def __init__(self, settings: Settings, *, group_suffix: str = "") -> None:
        self.runtime = RuntimeWorker(settings, group=f"{settings.topic_prefix}-runtime{group_suffix}")
        self.retry = RetryWorker(settings, group=f"{settings.topic_prefix}-retry{group_suffix}")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self.error: BaseException | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(asyncio.gather(self.runtime.run(), self.retry.run()))
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            self._loop.close()

    def __enter__(self) -> Workers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self.runtime.stop)
        self._loop.call_soon_threadsafe(self.retry.stop)
        self._thread.join(60)
        if self.error is not None:
            raise self.error


class Runnable(Protocol):
    """A worker: ``run()`` until ``stop()`` (the runtime worker, the retry worker)."""

    async def run(self) -> None: ...
    def stop(self) -> None: ...


W = TypeVar("W", bound=Runnable)


@contextmanager
def running(worker: W) -> Iterator[W]:
    """``worker`` running on an event loop in a thread of its own until the block ends; re-raises what
    it raised."""
    loop = asyncio.new_event_loop()
    errors: list[BaseException] = []

    def main() -> None:
        try:
            loop.run_until_complete(worker.run())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(worker.stop)
        thread.join(60)
    if errors:
        raise errors[0]
