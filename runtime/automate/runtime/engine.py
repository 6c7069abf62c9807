"""The step engine: advances one execution through its workflow graph.

One piece of code used two ways (``mode``):

- ``inline`` (:meth:`automate.runtime.Runtime.run_execution`): transient failures are retried in
  process after a backoff sleep; a ``core.wait`` step sleeps in process.
- ``deferred`` (the Kafka workers): a transient failure records the attempt as RETRYING and hands a
  StepTask to the scheduler (a retry tier topic); a ``core.wait`` step is deferred the same way. The
  execution stays RUNNING until the task comes back and :meth:`Engine.advance` resumes it.

State lives in Postgres only; the engine can be killed at any point and called again with the same
arguments: a step recorded as SUCCESS or SKIPPED is never run again (at-least-once for the rest).
A step whose action is pure (no effect outside the execution, e.g. ``core.transform``) or that is
skipped is recorded together with the execution's next write rather than in a commit of its own, so a
workflow's pure steps and its end commit at once; if the worker dies first, they are computed again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from psycopg_pool import AsyncConnectionPool

from automate.config import Settings
from automate.db.executions import FOREVER_S
from automate.dead_letters import DeadLetter
from automate.errors import (
    AutomateError,
    ErrorCodes,
    OutputError,
    RuleError,
    StepError,
    StepTimeout,
    TemplateError,
    UsageError,
)
from automate.lru import LruCache
from automate.rules import compile_rule
from automate.runtime import spans, templating
from automate.runtime.actions import ActionContext, is_pure, registry
from automate.runtime.actions.base import checked_output
from automate.runtime.admission import Resume, admit_existing, admit_request, admit_task, parked
from automate.runtime.guards import describe, read_context, wait_seconds
from automate.runtime.state import StateReader, StateWriter, Write, database_away
from automate.runtime.workflows import StepSpec, WorkflowSpec
from automate.step_tasks import StepTask

__all__ = ["DeadLetterSink", "Engine", "Outcome", "Resume", "Scheduler"]

log = logging.getLogger("automate.runtime")

WAIT_ACTION = "core.wait"
DONE = ("SUCCESS", "SKIPPED")
_CACHED_VERSIONS = 10_000  # workflow versions (and their specs) a worker keeps parsed


class Outcome(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    WAITING = "WAITING"  # a step is parked until a deferred task comes back
    MISSING = "MISSING"  # no such execution
    REFUSED = "REFUSED"  # a record that does not match its automation or execution: dead-lettered
    ALREADY_DONE = "ALREADY_DONE"


Scheduler = Callable[[StepTask], Awaitable[None]]
DeadLetterSink = Callable[[DeadLetter], Awaitable[None]]


class _Version(NamedTuple):
    """A workflow version as the engine keeps it."""

    slug: str  # its automation's
    tenant: str  # its automation's: the only tenant a request for it may run as
    spec: WorkflowSpec
    pure: bool  # every step pure


@dataclass
class _Step:
    status: str
    attempt: int
    output: Any = None
    error_code: str | None = None


@dataclass
class _Run:
    """One execution being advanced."""

    id: str
    tenant: str
    status: str
    context: Any
    event_id: str | None
    slug: str
    spec: WorkflowSpec
    steps: dict[str, _Step] = field(default_factory=dict)
    deadline: float | None = None
    pending: list[Write] = field(default_factory=list)  # pure steps' results, written with the next write
    unborn: dict[str, Any] | None = None  # the create_execution row of an execution not yet written
    automation_id: str | None = None  # as loaded (None: not read yet)
    done: set[str] = field(default_factory=set)  # the steps that are SUCCESS or SKIPPED

    def set_step(self, step_id: str, state: _Step) -> None:
        self.steps[step_id] = state
        if state.status in DONE:
            self.done.add(step_id)
        else:
            self.done.discard(step_id)

    def all_done(self) -> bool:
        """Whether every step is SUCCESS or SKIPPED."""
        return len(self.done) == len(self.spec.steps)

    def scope(self) -> dict[str, Any]:
        return {
            "event": {"id": self.event_id, "payload": self.context},
            "execution": {"id": self.id, "context": self.context, "tenant": self.tenant},
            "steps": {sid: {"output": s.output, "status": s.status} for sid, s in self.steps.items()},
        }


class Engine:
    """Advances executions; safe to share between many concurrent executions of one worker."""

    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool,
        *,
        mode: Literal["inline", "deferred"] = "inline",
        scheduler: Scheduler | None = None,
        dead_letters: DeadLetterSink | None = None,
        rng: random.Random | None = None,
        on_step: Callable[[str, str, str, float], None] | None = None,  # (slug, step, status, seconds)
    ) -> None:
        if mode == "deferred" and scheduler is None:
            raise UsageError("deferred mode needs a scheduler")
        self.settings = settings
        self.pool = pool
        self.mode = mode
        self.scheduler = scheduler
        self.dead_letters = dead_letters
        self.rng = rng or random.Random()
        self.on_step = on_step
        # Bounded: ids arrive in records, and versions pile up as workflows are applied.
        self._specs: LruCache[str, WorkflowSpec] = LruCache(_CACHED_VERSIONS)
        self._versions: LruCache[tuple[str, int], _Version] = LruCache(_CACHED_VERSIONS)
        self._reading: dict[tuple[str, int], asyncio.Future[_Version | None]] = {}
        self.writer = StateWriter(pool)
        self.reader = StateReader(pool)

    # -- loading -------------------------------------------------------------------------------

    async def _load(self, execution_id: str) -> _Run | None:
        row = await self.reader.load(execution_id)
        if row is None:
            return None
        (ident, tenant, status, context, event_id, _attempt, _started, deadline, workflow_id, definition,
         _version, slug, automation_id, step_rows) = row
        if definition is None:
            raise OutputError(f"execution {ident} has no workflow version (deleted?)",
                              code=ErrorCodes.WORKFLOW_MISSING)
        spec = self._spec(workflow_id, definition)
        run = _Run(ident, tenant, status, context, event_id, slug, spec, automation_id=automation_id,
                   deadline=deadline.timestamp() if isinstance(deadline, datetime) else None)
        for sid, attempt, st, output, code in step_rows:
            run.set_step(sid, _Step(st, attempt, output, code))
        return run

    def _spec(self, workflow_id: str, definition: Any) -> WorkflowSpec:
        spec = self._specs.get(workflow_id)
        if spec is None:
            spec = WorkflowSpec.model_validate(definition)
            self._specs.put(workflow_id, spec)
        return spec

    async def _version(self, automation_id: str, version: int) -> _Version | None:
        """A workflow version, kept, since versions never change. The requests that arrive together for
        a version not read yet wait for one read of it."""
        key = (automation_id, version)
        found = self._versions.get(key)
        if found is not None:
            return found
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.ensure_future(self._read_version(automation_id, version))
            reading.add_done_callback(lambda _f: self._reading.pop(key, None))
        return await asyncio.shield(reading)

    async def _read_version(self, automation_id: str, version: int) -> _Version | None:
        row = await self.reader.workflow_version(automation_id, version)
        if row is None:
            return None
        spec = self._spec(str(row[0]), row[1])
        # Every step pure: a run of it has no effect before its end (see start()).
        pure = all(step.action != WAIT_ACTION and is_pure(registry.get(step.action)) for step in spec.steps)
        found = _Version(str(row[2]), str(row[3]), spec, pure)
        self._versions.put((automation_id, version), found)
        return found

    # -- public --------------------------------------------------------------------------------

    async def start(self, request: Mapping[str, Any]) -> Outcome:
        """Create the execution an ExecutionRequest asks for and run it.

        A new execution is created RUNNING and advanced from what the request holds, with no read; a
        redelivered request finds it created and resumes it where it stands.
        """
        version = await self._version(str(request["automation_id"]), int(request["workflow_version"]))
        if version is None:
            return Outcome.MISSING
        if not await admit_request(request, version.tenant, version.slug, self.dead_letters):
            return Outcome.REFUSED  # a forged or corrupt request: never run as another tenant
        slug, spec = version.slug, version.spec
        context, problem = read_context(request["context"])
        refused = problem is not None  # not a storable JSON object: the execution is created FAILED, empty
        timeout = spec.timeout if spec.timeout is not None else FOREVER_S
        ident = str(request["execution_id"])
        create = {
            "id": ident, "tenant": version.tenant, "automation_id": str(request["automation_id"]),
            "version": int(request["workflow_version"]), "event_id": request.get("event_id"),
            "context": context, "timeout": timeout,
        }
        run = _Run(ident, version.tenant, "RUNNING", context, request.get("event_id"), slug, spec,
                   deadline=time.time() + timeout)
        if version.pure and not refused:
            # Nothing outside the execution happens before its end, so it is written once, at the end (or
            # when a step fails or must wait, before that). Found already there, it is resumed instead.
            run.unborn = {**create, "started_at": time.time()}
            try:
                return await self._advance(run, None)
            except _Exists:
                return await self.advance(ident, request=request)
        written = await self.writer.write("create_execution", create)
        if not written.created:
            return await self.advance(ident, request=request)
        if refused:
            error = {"code": ErrorCodes.EXECUTION_CONTEXT_INVALID, "message": f"the context {problem}"}
            await self._dead_letter(run, None, 0, error)
            return await self._finish(run, "FAILED", error)
        return await self._advance(run, None)

    async def advance(self, execution_id: str, resume: Resume | None = None, *,
                      request: Mapping[str, Any] | None = None) -> Outcome:
        """Run every step that can run now; returns where the execution stands. A task that does not match
        the execution's state, or a ``request`` found created that is not the execution's, runs nothing
        (REFUSED; :mod:`automate.runtime.admission`)."""
        run = await self._load(execution_id)
        if run is None:
            return Outcome.MISSING
        if request is not None and not await admit_existing(request, run, self.dead_letters):
            return Outcome.REFUSED
        if resume is not None and not await admit_task(run, resume, self.dead_letters, self.scheduler):
            return Outcome.REFUSED
        return await self._advance(run, resume)

    async def _advance(self, run: _Run, resume: Resume | None) -> Outcome:
        if run.status in ("SUCCESS", "FAILED", "CANCELED"):
            return Outcome.ALREADY_DONE
        if run.status == "PENDING":
            timeout = run.spec.timeout if run.spec.timeout is not None else FOREVER_S
            await self.writer.write("start_execution", {"id": run.id, "timeout": timeout})
            run.status = "RUNNING"
            if run.deadline is None:
                run.deadline = time.time() + timeout
        outcome = await self._steps(run, resume)
        if run.pending:  # e.g. a pure branch that finished beside one that now waits
            await self._write(run, [])
        return outcome

    async def _steps(self, run: _Run, resume: Resume | None) -> Outcome:
        resumed = resume
        while True:
            if run.status == "SUCCESS":  # the last step's result and the execution's end were one write
                return Outcome.SUCCESS
            if run.deadline is not None and time.time() > run.deadline:
                error = {"code": ErrorCodes.EXECUTION_TIMEOUT,
                         "message": "the execution ran past its timeout"}
                await self._dead_letter(run, None, 0, error)
                return await self._finish(run, "FAILED", error)
            if run.status in ("CANCELED", "FAILED"):  # canceled, or swept past its deadline, meanwhile
                return Outcome(run.status)
            ready = self._ready(run, resumed)
            resumed = None
            if not ready:
                break
            if len(ready) == 1:
                results = [await self._run_step(run, *ready[0])]
            else:
                # Every parallel step runs to its recorded end before a failure that is no step's (the
                # database gone) propagates: the message is retried, and a sibling left running would
                # be run twice.
                outcomes = await asyncio.gather(*(self._run_step(run, step, attempt, reason)
                                                  for step, attempt, reason in ready), return_exceptions=True)
                raised = next((r for r in outcomes if isinstance(r, BaseException)), None)
                if raised is not None:
                    raise raised
                results = [r for r in outcomes if not isinstance(r, BaseException)]
            failed = next((r for r in results if r is not None), None)
            if failed is not None:
                return await self._finish(run, "FAILED", failed)
        if run.all_done():
            return await self._finish(run, "SUCCESS", None)
        return Outcome.WAITING

    # -- scheduling ------------------------------------------------------------------------------

    def _ready(self, run: _Run, resume: Resume | None) -> list[tuple[StepSpec, int, str]]:
        ready: list[tuple[StepSpec, int, str]] = []
        done = run.done
        for step in run.spec.steps:
            if step.id in done or not done.issuperset(step.needs):
                continue
            state = run.steps.get(step.id)
            if state is None:
                ready.append((step, 1, "start"))
            elif (state.status in ("RETRYING", "FAILED") and resume is not None
                  and resume.step_id == step.id and resume.attempt == state.attempt + 1):
                # Only the attempt that was scheduled: a duplicate task finds it already recorded.
                ready.append((step, resume.attempt, resume.reason))
        return ready

    # -- one step ------------------------------------------------------------------------------

    async def _run_step(self, run: _Run, step: StepSpec, attempt: int, reason: str) -> dict[str, Any] | None:
        """Run one step (in its span) to a recorded result; the execution's error when it must fail."""
        with spans.step(step.id, step.action, attempt, reason):
            return await self._step(run, step, attempt, reason)

    async def _step(self, run: _Run, step: StepSpec, attempt: int, reason: str) -> dict[str, Any] | None:
        while True:
            started = time.time()
            try:
                if step.when is not None and not compile_rule(step.when).evaluate(run.scope()):
                    await self._record(run, step, attempt, "SKIPPED", started, output=None)
                    return None
                if step.action == WAIT_ACTION:
                    await self._wait_step(run, step, attempt, reason, started)
                    return None
                rendered = await templating.render_async(step.input, run.scope(), settings=self.settings) \
                    if step.input else {}  # off the event loop, under the settings' template limits
                output = await self._call(run, step, attempt, rendered)
            except (StepError, TemplateError, OutputError, RuleError) as exc:  # a `when` rule's too
                error = describe(exc)
                retryable = isinstance(exc, StepError) and exc.retryable
                if step.retry.should_retry(error["code"], retryable, attempt):
                    # A server's Retry-After counts, capped at the policy's max.
                    delay = step.retry.next_delay(attempt, self.rng, retry_after=exc.retry_after)
                    if self.mode == "inline":
                        await self._record(run, step, attempt, "RETRYING", started, error=error)
                        await asyncio.sleep(delay)
                        attempt += 1
                        continue
                    due = time.time() + delay  # recorded: the task is checked against it when back
                    await self._record(run, step, attempt, "RETRYING", started, error=error,
                                       output=parked(due))
                    assert self.scheduler is not None
                    await self.scheduler(StepTask(run.id, run.tenant, run.slug, step.id, attempt + 1, due,
                                                  "retry"))
                    return None
                await self._record(run, step, attempt, "FAILED", started, error=error)
                await self._dead_letter(run, step, attempt, error)
                return {**error, "step_id": step.id, "attempt": attempt}
            await self._record(run, step, attempt, "SUCCESS", started, output=output)
            return None

    async def _wait_step(self, run: _Run, step: StepSpec, attempt: int, reason: str,
                         started: float) -> None:
        seconds = wait_seconds(await templating.render_async(step.input, run.scope(), settings=self.settings))
        if reason == "wait":  # the deferred task came back: the wait is over
            await self._record(run, step, attempt, "SUCCESS", started, output={"waited": seconds})
            return
        if self.mode == "inline" or seconds == 0:
            await asyncio.sleep(seconds)
            await self._record(run, step, attempt, "SUCCESS", started, output={"waited": seconds})
            return
        due = time.time() + seconds
        await self._record(run, step, attempt, "RETRYING", started, output=parked(due),
                           error={"code": ErrorCodes.STEP_WAIT, "message": f"waiting {seconds}s"})
        assert self.scheduler is not None
        await self.scheduler(StepTask(run.id, run.tenant, run.slug, step.id, attempt + 1, due, "wait"))

    async def _call(self, run: _Run, step: StepSpec, attempt: int, rendered: Any) -> dict[str, Any]:
        action = registry.require(step.action)
        ctx = ActionContext(
            execution_id=run.id, step_id=step.id, attempt=attempt,
            idempotency_key=f"{run.id}:{step.id}", tenant=run.tenant, settings=self.settings,
            automation=run.slug, connection=step.connection, written_input=step.input,
            log=logging.LoggerAdapter(log, {"execution_id": run.id, "step_id": step.id,
                                            "tenant": run.tenant}),
        )
        try:
            if step.timeout is not None:
                output = await asyncio.wait_for(action.run(rendered, ctx), step.timeout)
            else:
                output = await action.run(rendered, ctx)
        except TimeoutError:
            raise StepTimeout(f"step {step.id} ran past its timeout of {step.timeout}s") from None
        except (StepError, TemplateError, OutputError):
            raise
        except Exception as exc:  # an action's bug is a permanent failure, recorded, not a crash
            if database_away(exc):
                raise  # our database is away, not the step's failure: the worker retries the message
            raise StepError(f"action {step.action} raised {type(exc).__name__}: {exc}",
                            code=ErrorCodes.ACTION_INTERNAL) from exc
        return checked_output(output, self.settings.max_step_output_bytes)

    # -- state ---------------------------------------------------------------------------------

    async def _record(self, run: _Run, step: StepSpec, attempt: int, status: str, started: float, *,
                      output: Any = None, error: dict[str, Any] | None = None) -> None:
        record: Write = ("record_step", {
            "execution_id": run.id, "step_id": step.id, "attempt": attempt, "status": status,
            "input": step.input,  # templates and secret references, never resolved values
            "output": output,
            "error_code": error["code"] if error else None,
            "error_message": error["message"] if error else None,
            "started_at": started,
        })
        run.set_step(step.id, _Step(status, attempt, output, error["code"] if error else None))
        if self.on_step is not None:
            self.on_step(run.slug, step.id, status, time.time() - started)
        spans.recorded(status, attempt, error)
        # The step that completes the workflow ends the execution in the same commit.
        ends = status in DONE and run.all_done()
        if ends and run.unborn is not None:
            await self._write_whole(run, record)
            return
        if not ends and (status == "SKIPPED" or (status == "SUCCESS" and is_pure(registry.get(step.action)))):
            run.pending.append(record)
            return
        writes = [record]
        if ends:
            writes.append(("finish_execution", {"id": run.id, "status": "SUCCESS", "error": None}))
        status_now = await self._write(run, writes)
        if ends and status_now == "SUCCESS":
            run.status = "SUCCESS"
            log.debug("execution finished", extra={"action": "execution.finish", "execution_id": run.id,
                                                   "status": "SUCCESS", "tenant": run.tenant})

    async def _write_whole(self, run: _Run, last: Write) -> None:
        """Write an unborn execution that succeeded: created ended, with every step result."""
        assert run.unborn is not None
        steps = [params for _name, params in run.pending] + [last[1]]
        run.pending = []
        written = await self.writer.write("run_execution",
                                          {**run.unborn, "status": "SUCCESS", "error": None, "steps": steps})
        if not written.created:
            raise _Exists(run.id)
        run.unborn = None
        run.status = "SUCCESS"
        log.debug("execution finished", extra={"action": "execution.finish", "execution_id": run.id,
                                               "status": "SUCCESS", "tenant": run.tenant})

    async def _write(self, run: _Run, writes: list[Write]) -> str | None:
        """Write ``writes`` after the pending ones, in one commit; returns the execution's status."""
        if run.unborn is not None:  # created first, on its own: if it exists already, nothing is written
            create, run.unborn = run.unborn, None
            del create["started_at"]
            if not (await self.writer.write("create_execution", create)).created:
                raise _Exists(run.id)
        writes, run.pending = [*run.pending, *writes], []
        written = await self.writer.write_all(writes) if writes else None
        status = written.status if written else None
        if status in ("CANCELED", "FAILED"):
            run.status = status  # canceled, or swept past its deadline, meanwhile: no further step starts
        return status

    async def _finish(self, run: _Run, status: str, error: dict[str, Any] | None) -> Outcome:
        await self._write(run, [("finish_execution", {"id": run.id, "status": status, "error": error})])
        log.debug("execution finished", extra={"action": "execution.finish", "execution_id": run.id,
                                               "status": status, "tenant": run.tenant})
        return Outcome(status)

    async def _dead_letter(self, run: _Run, step: StepSpec | None, attempt: int,
                           error: dict[str, Any]) -> None:
        if self.dead_letters is None:
            return
        await self.dead_letters(DeadLetter(
            kind="step", execution_id=run.id, tenant=run.tenant, workflow_slug=run.slug,
            step_id=step.id if step else None, attempt=attempt if step else None,
            error_code=str(error["code"]), error_message=error["message"][:2000]))


class _Exists(AutomateError):
    """An execution run as unborn turned out to exist already (its request was delivered again)."""

