"""The dead-letter topic (``automate.dlq``): the letters every stage writes, reading them back, and
replaying a failed execution.

A letter is a ``DeadLetter`` record. Its ``kind`` says what failed:

- ``poison``: a record no stage could read (its bytes kept in ``original``, its topic in
  ``source_topic``): an event without its CloudEvents headers or with an undecodable body, a request
  the runtime could not decode, a request the processors could not deliver, a retry-tier record the
  retry worker cannot trust (``retry.*`` codes) or could not put back on its workflow topic;
- ``step``: a step failed for good (permanent, or out of attempts) and failed its execution, or a
  request or task named an automation version or an execution that does not exist.

``automate dlq list | show | replay`` read them; a replay reopens the failed execution and sends a step
task for its failed step (earlier steps are not run again).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from automate.config import Settings
from automate.errors import ErrorCodes, ExecutionError
from automate.records import Records
from automate.sizes import record_max_bytes
from automate.step_tasks import StepTask, send_step_task
from automate.topics import dlq_topic

if TYPE_CHECKING:
    from automate.transport import AsyncProducer

__all__ = ["DeadLetter", "read_dead_letters", "replay", "send_dead_letter"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """One dead letter, as the ``DeadLetter`` record carries it."""

    kind: Literal["poison", "step"]
    error_code: str
    error_message: str
    execution_id: str | None = None
    tenant: str | None = None
    workflow_slug: str | None = None
    step_id: str | None = None
    attempt: int | None = None
    source_topic: str | None = None
    original: bytes | None = None
    failed_at: int = 0  # epoch ms; 0: now, when encoded

    @classmethod
    def poison(cls, *, code: str, message: str, source_topic: str, original: bytes | None) -> DeadLetter:
        """A record of ``source_topic`` that cannot be read, kept byte for byte."""
        return cls(kind="poison", error_code=code, error_message=message[:2000], source_topic=source_topic,
                   original=original)

    @classmethod
    def step(cls, *, execution_id: str, tenant: str, workflow_slug: str, step_id: str, attempt: int,
             code: str, message: str) -> DeadLetter:
        """A step that failed for good, and with it its execution."""
        return cls(kind="step", error_code=code, error_message=message[:2000], execution_id=execution_id,
                   tenant=tenant, workflow_slug=workflow_slug, step_id=step_id, attempt=attempt)

    @classmethod
    def unknown_target(cls, record: dict[str, Any], name: str, topic: str) -> DeadLetter:
        """An ExecutionRequest naming an automation version, or a StepTask naming an execution, that
        does not exist (``record`` is the decoded record, ``name`` its record name)."""
        request = name == "ExecutionRequest"
        return cls(kind="step", execution_id=str(record.get("execution_id")), tenant=record.get("tenant"),
                   workflow_slug=record.get("workflow_slug"), step_id=record.get("step_id"),
                   attempt=record.get("attempt"),
                   error_code=ErrorCodes.AUTOMATION_UNKNOWN if request else ErrorCodes.EXECUTION_UNKNOWN,
                   error_message=f"{name} for an unknown {'automation version' if request else 'execution'}",
                   source_topic=topic)

    @property
    def key(self) -> str | None:
        """The record key: the execution's id, so an execution's letters share a partition."""
        return self.execution_id

    def encode(self, records: Records, *, max_original: int | None = None) -> bytes:
        """The letter's record; an ``original`` above ``max_original`` bytes (a record larger than any the
        project writes: :func:`automate.sizes.record_max_bytes`) is dropped, the message saying so, so
        that the letter fits the dead-letter topic."""
        record = asdict(self)
        record["error_code"] = str(self.error_code)
        if not self.failed_at:
            record["failed_at"] = int(time.time() * 1000)
        if max_original is not None and self.original is not None and len(self.original) > max_original:
            record["original"] = None
            record["error_message"] = (f"{self.error_message[:1800]} [original of {len(self.original)} bytes "
                                       f"dropped: above {max_original}]")
        return records.encode("DeadLetter", record)


async def send_dead_letter(settings: Settings, records: Records, producer: AsyncProducer,
                           letter: DeadLetter) -> None:
    """Produce ``letter`` to the dead-letter topic, keyed by its execution, its original kept only when it
    fits (:meth:`DeadLetter.encode`).

    Raises:
        TransportError: The letter was not delivered.
    """
    await producer.send(dlq_topic(settings), letter.encode(records, max_original=record_max_bytes(settings)),
                        key=letter.key)


def read_dead_letters(settings: Settings, records: Records,
                      timeout: float = 5.0) -> list[tuple[int, int, dict[str, Any]]]:
    """Every letter of the topic, from its start: (partition, offset, record). Stops after ``timeout``
    seconds or once three polls in a row found nothing; records it cannot decode are skipped."""
    from automate.errors import RecordError
    from automate.transport import consumer

    reader = consumer(settings, f"automate-dlq-reader-{uuid.uuid4()}")
    reader.subscribe([dlq_topic(settings)])
    found: list[tuple[int, int, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    idle = 0
    try:
        while time.monotonic() < deadline and idle < 3:
            batch = reader.consume(1000, 0.5)
            idle = idle + 1 if not batch else 0
            for msg in batch:
                if msg.error():
                    continue
                try:
                    _, record = records.decode(msg.value() or b"")
                except RecordError:
                    continue
                found.append((int(msg.partition() or 0), int(msg.offset() or 0), record))
    finally:
        reader.close()
    return found


async def replay(settings: Settings, execution_id: str, *, timeout_s: float = 30.0) -> str:
    """Reopen a failed execution and send a step task for its failed step; returns that step's id.

    The execution is committed RUNNING first (a runtime that reads the task must find it reopened), then
    the task is sent; if it is not delivered within ``timeout_s`` seconds, the execution is made FAILED
    again with its error, so a replay that did not happen leaves nothing RUNNING.

    Raises:
        ExecutionError: No such execution, or it did not fail (``execution.not_replayable``).
        TransportError: The step task was not delivered; the execution is FAILED as before.
    """
    from automate.db import connect
    from automate.db.executions import ExecutionStore, canonical_execution_id
    from automate.transport import AsyncProducer

    execution_id = canonical_execution_id(execution_id)
    with connect(settings) as conn:
        store = ExecutionStore(conn)
        failed = store.failed_step(execution_id)
        before = store.get(execution_id)
        if failed is None or before is None or not store.reopen(execution_id):
            raise ExecutionError(f"execution {execution_id} is not a failed execution with a failed step",
                                 code=ErrorCodes.EXECUTION_NOT_REPLAYABLE)
        conn.commit()
        producer = AsyncProducer(settings, **{"message.timeout.ms": int(timeout_s * 1000)})
        try:
            await send_step_task(settings, Records.load(settings), producer, StepTask(
                execution_id, failed.tenant, failed.workflow_slug, failed.step_id, failed.attempt + 1,
                time.time(), "replay"))
        except BaseException:
            store.refail(execution_id, before.error, failed.step_id, failed.attempt)
            conn.commit()
            raise
        finally:
            producer.close()
    return failed.step_id
