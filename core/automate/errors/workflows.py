"""Errors of workflow definitions, executions and their steps."""

from __future__ import annotations

from automate.errors.base import AutomateError
from automate.errors.codes import ErrorCodes

__all__ = ["ConnectorError", "ExecutionError", "OutputError", "StepError", "StepFailure", "StepTimeout",
           "TemplateError", "TemplateLimitError", "TenantMismatch", "UnknownAction", "WorkflowSlugTaken",
           "WorkflowValidationError"]


# --- workflows, executions, steps ------------------------------------------------------------------------


class WorkflowValidationError(AutomateError):
    """A workflow definition was refused. ``faults`` holds every (JSON path, message) found."""

    code = ErrorCodes.WORKFLOW_INVALID

    def __init__(self, faults: list[tuple[str, str]]) -> None:
        self.faults = faults
        listed = "; ".join(f"{path}: {message}" for path, message in faults)
        super().__init__(f"invalid workflow ({len(faults)} fault(s)): {listed}")


class WorkflowSlugTaken(WorkflowValidationError):
    """The slug belongs to another tenant's automation: its workflow topic is theirs (path ``$.slug``)."""

    code = ErrorCodes.WORKFLOW_SLUG_TAKEN


class TenantMismatch(AutomateError):
    """A workflow file, an execution request or a step task names another tenant (or workflow) than the
    one it belongs to: the operator's, the automation's, the execution's. Nothing was written or run; the
    runtime dead-letters such a record with this code."""

    code = ErrorCodes.TENANT_MISMATCH


class ExecutionError(AutomateError):
    """An execution cannot do what was asked of it (e.g. a replay of one that did not fail)."""

    code = ErrorCodes.EXECUTION


class StepFailure(AutomateError):
    """Running one step failed; the engine records it on the step and its retry policy decides."""

    code = ErrorCodes.STEP


class StepError(StepFailure):
    """An action failed: ``StepError(message, code=..., retryable=..., retry_after=...)``; ``code`` is
    what a step's ``retry_on`` can name (``http.503``, ``timeout``)."""

    code = ErrorCodes.STEP_FAILED


class StepTimeout(StepError):
    """The step ran past its timeout."""

    code = ErrorCodes.TIMEOUT
    retryable = True


class ConnectorError(StepError):
    """A connector's call failed, normalized (``Connector.normalize_error``) to one of the connector codes
    of :class:`ErrorCodes` (``auth_failed``, ``rate_limited`` with ``retry_after``, ``upstream_5xx``...)."""

    code = ErrorCodes.INTERNAL


class UnknownAction(StepError):
    """A step names an action no one registered (permanent: retrying cannot make it appear)."""

    code = ErrorCodes.ACTION_UNKNOWN

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown action {name!r}")
        self.name = name


class TemplateError(StepFailure):
    """A step's input template failed to render (permanent)."""

    code = ErrorCodes.TEMPLATE


class TemplateLimitError(TemplateError):
    """A template went past one of the sandbox's limits (permanent): the size of a string or of the
    rendered input, the size of a number, the work or the nesting of one render, or its time.

    Attributes:
        limit: Which limit: ``"string"``, ``"output"``, ``"number"``, ``"work"``, ``"depth"`` or ``"time"``.
    """

    code = ErrorCodes.TEMPLATE_LIMIT

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class OutputError(StepFailure):
    """A step's output is not a JSON object, or too large (permanent)."""

    code = ErrorCodes.OUTPUT
