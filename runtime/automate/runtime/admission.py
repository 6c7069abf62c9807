"""What a record on a workflow topic must match before the engine acts on it.

Anyone who can produce to a workflow topic can write any ``ExecutionRequest`` or ``StepTask``, so the
engine trusts neither record's word, only Postgres:

- an execution request runs only as its automation's tenant and workflow (:func:`check_request`);
  otherwise nothing is created and the request is dead-lettered ``tenant.mismatch``; a request whose
  execution id exists already resumes that execution only when it is of the request's automation and
  tenant (:func:`check_existing`: a redelivery), never another automation's or tenant's;
- a step task (a retry, a wait or a replay coming back) resumes a step only when it names the execution's
  tenant and workflow (else ``tenant.mismatch``), the step's recorded state asked for it (a ``wait`` task
  for a step parked by ``core.wait``, a ``retry`` task for one waiting for its retry, a ``replay`` task for
  a failed step; else ``step_task.unexpected``), and it is due: the engine records the due time of every
  parked attempt (:func:`parked`), and a task before it is dead-lettered ``step_task.early`` (one that
  carries the recorded due time, the genuine task early by a clock's skew, is put back until due).

A task for an ended execution, an attempt already recorded, or a step that is no longer parked, is a
duplicate (every record is delivered at least once): it resumes nothing and is not dead-lettered.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from automate.dead_letters import DeadLetter
from automate.errors import AutomateError, ErrorCodes, RecordError, TenantMismatch
from automate.step_tasks import StepTask

__all__ = ["EARLY_SLACK_S", "Resume", "Verdict", "admit_existing", "admit_request", "admit_task",
           "check_existing", "check_request", "check_task", "parked"]

log = logging.getLogger("automate.runtime.admission")

EARLY_SLACK_S: Final = 1.0  # how much before its recorded due time a task still counts as due
_DUE_KEY: Final = "due_at_ms"
_WAIT_CODE: Final = str(ErrorCodes.STEP_WAIT)
_ENDED: Final = ("SUCCESS", "FAILED", "CANCELED")  # an ended execution resumes nothing

Verdict = Literal["run", "duplicate", "later"]


@dataclass(frozen=True, slots=True)
class Resume:
    """A deferred step coming back: run ``step_id`` as ``attempt``. A task read from a record also
    carries its own ``tenant``, ``workflow_slug`` and ``due_at_ms`` (epoch ms), checked against the
    execution's before anything runs (:func:`check_task`)."""

    step_id: str
    attempt: int
    reason: Literal["retry", "wait", "replay"] = "retry"
    tenant: str | None = None
    workflow_slug: str | None = None
    due_at_ms: int | None = None

    @classmethod
    def of_task(cls, record: Mapping[str, Any]) -> Resume:
        """The resume a decoded ``StepTask`` record asks for."""
        due = record.get("due_at")
        due_ms = int(due.timestamp() * 1000) if isinstance(due, datetime) else due
        return cls(str(record["step_id"]), int(record["attempt"]), record["reason"],
                   tenant=str(record["tenant"]), workflow_slug=str(record["workflow_slug"]),
                   due_at_ms=due_ms if isinstance(due_ms, int) else None)


class _StepState(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def output(self) -> Any: ...
    @property
    def error_code(self) -> str | None: ...


class _Owned(Protocol):
    """What every record the admission compares names: its id, tenant and workflow."""

    @property
    def id(self) -> str: ...
    @property
    def tenant(self) -> str: ...
    @property
    def slug(self) -> str: ...


class _Execution(_Owned, Protocol):
    @property
    def status(self) -> str: ...
    @property
    def steps(self) -> Mapping[str, _StepState]: ...


class _Existing(_Owned, Protocol):
    @property
    def automation_id(self) -> str | None: ...


DeadLetters = Callable[[DeadLetter], Awaitable[None]] | None
Scheduler = Callable[[StepTask], Awaitable[None]] | None


def parked(due: float) -> dict[str, int]:
    """The output recorded on an attempt parked until ``due`` (epoch s): what its task is checked
    against when it comes back."""
    return {_DUE_KEY: int(due * 1000)}


def _recorded_due_ms(state: _StepState) -> int | None:
    output = state.output
    due = output.get(_DUE_KEY) if isinstance(output, Mapping) else None
    return due if isinstance(due, int) and not isinstance(due, bool) else None  # none: parked before 0.x


def check_request(request: Mapping[str, Any], tenant: str, slug: str) -> None:
    """Raises TenantMismatch when the request names another tenant or workflow than its automation's."""
    named = (str(request.get("tenant")), str(request.get("workflow_slug", slug)))
    if named != (tenant, slug):
        raise TenantMismatch(f"an execution request for automation {str(request.get('automation_id'))[:64]} "
                             f"names tenant {named[0][:64]!r} and workflow {named[1][:64]!r}, not the "
                             "automation's; nothing was created")


def _canonical(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


def check_existing(request: Mapping[str, Any], run: _Existing) -> None:
    """Raises TenantMismatch when the execution a request names exists already as another automation's
    or tenant's (a forged or colliding id): the request must not resume it."""
    named = (_canonical(request.get("automation_id")), str(request.get("tenant")))
    if named != (_canonical(run.automation_id), run.tenant):
        raise TenantMismatch(f"an execution request names execution {run.id}, which exists as another "
                             f"automation's or tenant's (request: automation {named[0][:64]}, tenant "
                             f"{named[1][:64]!r}); nothing was run")


def check_task(run: _Execution, resume: Resume, now: float | None = None) -> Verdict:
    """Whether a step task may resume ``run``: ``run`` it, a ``duplicate`` (resume nothing), or ``later``
    (the genuine task, before its due time: put it back).

    Raises:
        TenantMismatch: The task names another tenant or workflow than the execution's.
        RecordError: ``step_task.unexpected`` (the step's state did not ask for this kind of task) or
            ``step_task.early`` (before the recorded due time, which the task does not carry).
    """
    if (resume.tenant, resume.workflow_slug) != (run.tenant, run.slug) and (
            resume.tenant is not None or resume.workflow_slug is not None):
        raise TenantMismatch(f"a step task for execution {run.id} names tenant {str(resume.tenant)[:64]!r} "
                             f"and workflow {str(resume.workflow_slug)[:64]!r}, not the execution's")
    state = run.steps.get(resume.step_id)
    if (run.status in _ENDED or state is None or state.attempt + 1 != resume.attempt
            or state.status not in ("RETRYING", "FAILED")):
        return "duplicate"
    where = f"step {resume.step_id[:64]!r} of execution {run.id}"
    if resume.reason == "replay" or state.status == "FAILED":
        if resume.reason != "replay" or state.status != "FAILED":
            raise RecordError(ErrorCodes.STEP_TASK_UNEXPECTED,
                              f"a {resume.reason} task for {where}, which is {state.status}")
        return "run"
    if (resume.reason == "wait") != (state.error_code == _WAIT_CODE):
        raise RecordError(ErrorCodes.STEP_TASK_UNEXPECTED, f"a {resume.reason} task for {where}, which "
                          f"is {'waiting' if state.error_code == _WAIT_CODE else 'waiting for a retry'}")
    due_ms = _recorded_due_ms(state)
    now = time.time() if now is None else now
    if due_ms is None or now >= due_ms / 1000 - EARLY_SLACK_S:
        return "run"
    if resume.due_at_ms == due_ms:
        return "later"
    raise RecordError(ErrorCodes.STEP_TASK_EARLY, f"a {resume.reason} task for {where} before its due time "
                      f"({due_ms} ms, {due_ms / 1000 - now:.0f}s from now)")


async def _refuse(error: AutomateError, letter: DeadLetter, dead_letters: DeadLetters) -> None:
    log.warning("record refused", extra={"action": "runtime.refused", "code": str(error.code),
                                         "execution_id": letter.execution_id, "tenant": letter.tenant})
    if dead_letters is not None:
        await dead_letters(letter)


async def admit_request(request: Mapping[str, Any], tenant: str, slug: str,
                        dead_letters: DeadLetters) -> bool:
    """:func:`check_request`; a refused request is dead-lettered (``tenant.mismatch``), False returned."""
    try:
        check_request(request, tenant, slug)
    except TenantMismatch as exc:
        await _refuse(exc, DeadLetter(
            kind="step", execution_id=str(request.get("execution_id"))[:64], tenant=tenant,
            workflow_slug=slug, error_code=str(exc.code), error_message=exc.message), dead_letters)
        return False
    return True


async def admit_existing(request: Mapping[str, Any], run: _Existing, dead_letters: DeadLetters) -> bool:
    """:func:`check_existing`; a refused request is dead-lettered (``tenant.mismatch``, under the
    request's own tenant: the execution's is not told), False returned."""
    try:
        check_existing(request, run)
    except TenantMismatch as exc:
        await _refuse(exc, DeadLetter(
            kind="step", execution_id=run.id, tenant=str(request.get("tenant"))[:64],
            workflow_slug=str(request.get("workflow_slug") or "")[:64] or None, error_code=str(exc.code),
            error_message=exc.message), dead_letters)
        return False
    return True


async def admit_task(run: _Execution, resume: Resume, dead_letters: DeadLetters,
                     scheduler: Scheduler) -> bool:
    """:func:`check_task`: True when the engine may advance ``run`` with ``resume``. A refused task is
    dead-lettered with its code, the genuine task early is put back until due (with ``scheduler``, in
    deferred mode); both return False."""
    try:
        verdict = check_task(run, resume)
    except (TenantMismatch, RecordError) as exc:
        await _refuse(exc, DeadLetter(
            kind="step", execution_id=run.id, tenant=run.tenant, workflow_slug=run.slug,
            step_id=resume.step_id[:64], attempt=resume.attempt, error_code=str(exc.code),
            error_message=exc.message), dead_letters)
        return False
    if verdict == "later" and scheduler is not None and resume.due_at_ms is not None:
        await scheduler(StepTask(run.id, run.tenant, run.slug, resume.step_id, resume.attempt,
                                 resume.due_at_ms / 1000, resume.reason))
        return False
    return verdict != "later"
