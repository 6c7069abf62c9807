"""Workflow definitions as pydantic models: the file format one workflow file is written in.

One file defines one automation and its workflow, a DAG of steps::

    slug: order-fulfilment
    name: Order fulfilment
    trigger: {event: "order.*", rule: {">=": [{"var": "amount"}, 100]}}
    steps:
      - id: shape
        action: core.transform
        input: {order: "{{ event.payload.order_id }}"}
      - id: notify
        needs: [shape]
        when: {"==": [{"var": "steps.shape.output.order"}, "ORD-123"]}
        action: http.request
        input: {url: "https://hooks.example.com/x", json: {order: "{{ steps.shape.output.order }}"}}
        retry: {max_attempts: 5, backoff: exponential, initial: 1s, max: 10m}
        timeout: 30s

The models check the shape; :func:`automate.runtime.workflows.validate` checks the rest (the graph,
actions, templates, rules).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from fnmatch import fnmatchcase
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from automate.errors import UsageError
from automate.runtime.durations import parse_duration

__all__ = [
    "SLUG_PATTERN",
    "STEP_ID_PATTERN",
    "Duration",
    "PositiveDuration",
    "RetryPolicy",
    "StepSpec",
    "TriggerSpec",
    "WorkflowSpec",
    "digest",
]

SLUG_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"
STEP_ID_PATTERN: Final = r"^[a-z0-9_][a-z0-9_-]*$"


def _duration(value: Any) -> Any:
    if isinstance(value, str | int | float):
        return parse_duration(value)
    return value  # let the float validation report the type


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
"""Seconds; also accepts "500ms", "30s", "10m", "1h", "1d"."""

PositiveDuration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


class _RandomSource(Protocol):
    def random(self) -> float: ...


class RetryPolicy(BaseModel):
    """When and how soon a failed step is tried again.

    Attributes:
        max_attempts: Tries in all, the first included (1 = never retry).
        backoff: ``exponential`` doubles the wait after each failure; ``fixed`` always waits ``initial``.
        initial: Seconds before the second attempt.
        max: The longest wait, jitter included.
        jitter: Spread of each wait, as a fraction: 0.2 waits between 80% and 120% of the backoff.
        retry_on: Error codes (globs such as ``http.5*``) to retry; naming a code retries it even when the
            error calls itself permanent. None retries every error that says it is retryable.

    Subclass and override :meth:`delay` for another backoff curve.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=3, ge=1)
    backoff: Literal["exponential", "fixed"] = "exponential"
    initial: Duration = 1.0
    max: Duration = 600.0
    jitter: float = Field(default=0.2, ge=0.0, le=1.0)
    retry_on: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryPolicy:
        if self.max < self.initial:
            raise UsageError(f"max ({self.max:g}s) is below initial ({self.initial:g}s)")
        return self

    def delay(self, attempt: int, rng: _RandomSource | None = None) -> float:
        """Seconds to wait after attempt number ``attempt`` (1 is the first) failed, before the next one.

        The backoff (``initial * 2**(attempt-1)``, or ``initial`` when fixed) is capped at ``max``, spread
        by ``jitter`` and capped at ``max`` again.
        """
        if self.backoff == "fixed":
            base = self.initial
        else:
            base = self.initial * 2.0 ** min(max(attempt - 1, 0), 1000)
        base = min(base, self.max)
        if self.jitter:
            draw = rng.random() if rng is not None else random.random()
            base *= 1.0 - self.jitter + 2.0 * self.jitter * draw
        return min(base, self.max)

    def next_delay(self, attempt: int, rng: _RandomSource | None = None, *,
                   retry_after: float | None = None) -> float:
        """The wait before the next attempt: :meth:`delay`, or longer if the other side asked for it
        (``retry_after``, e.g. HTTP ``Retry-After``), but never longer than ``max``: a server cannot
        park a step beyond its policy."""
        delay = self.delay(attempt, rng)
        if retry_after is not None and math.isfinite(retry_after) and retry_after > delay:
            delay = min(retry_after, self.max)
        return delay

    def should_retry(self, error_code: str, retryable: bool, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1 is the first), failed with ``error_code``, gets another."""
        if attempt >= self.max_attempts:
            return False
        if self.retry_on is None:
            return retryable
        return any(fnmatchcase(error_code, pattern) for pattern in self.retry_on)


class TriggerSpec(BaseModel):
    """Which events start the automation: an event type (exact or glob) and an optional JSONLogic rule
    over the event's payload (no rule: every event of the type)."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(min_length=1, pattern=r"^\S+$")
    rule: dict[str, Any] | None = None


class StepSpec(BaseModel):
    """One step of the graph.

    Attributes:
        id: Unique within the workflow; templates and conditions reach its output as ``steps.<id>.output``.
        action: The action to call, e.g. ``http.request``.
        input: The action's input; strings may be templates (see :mod:`automate.runtime.templating`).
        needs: Steps that must finish first; steps with no path between them run in parallel.
        when: A JSONLogic condition over ``event``, ``steps`` and ``execution``; false skips the step.
        retry: The retry policy.
        timeout: Seconds one attempt may take (``"30s"`` accepted).
        connection: For a connector's action: the named connection (``automate connections set``) whose
            configuration and credentials it acts with.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=STEP_ID_PATTERN, max_length=64)
    action: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)
    needs: list[str] = Field(default_factory=list)
    when: dict[str, Any] | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: PositiveDuration | None = None
    connection: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")


class WorkflowSpec(BaseModel):
    """One workflow file: the automation (slug, name, tenant, triggers) and its step graph.

    ``tenant`` is whose the automation is; None means the operator's tenant (``--tenant``, the settings'),
    and a file naming another tenant is refused unless the operator trusts the file's
    (:mod:`automate.runtime.workflows.tenants`). Give ``trigger`` or ``triggers`` (a list),
    not both; neither makes a workflow that only runs when asked (``run_workflow``). ``timeout`` bounds a
    whole execution.
    """

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1)
    tenant: str | None = Field(default=None, min_length=1)
    trigger: TriggerSpec | None = None
    triggers: list[TriggerSpec] = Field(default_factory=list)
    timeout: PositiveDuration | None = None
    steps: list[StepSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_trigger_form(self) -> WorkflowSpec:
        if self.trigger is not None and self.triggers:
            raise UsageError("give either trigger or triggers, not both")
        return self

    @property
    def all_triggers(self) -> list[TriggerSpec]:
        """``trigger`` and ``triggers`` as one list."""
        return [self.trigger] if self.trigger is not None else list(self.triggers)

    def step(self, step_id: str) -> StepSpec:
        """The step called ``step_id``; UsageError when there is none."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise UsageError(f"workflow {self.slug!r} has no step {step_id!r}")


def digest(spec: WorkflowSpec) -> str:
    """sha256 (hex) of the canonical JSON of ``spec``: equal definitions, equal digests."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
