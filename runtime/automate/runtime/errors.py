"""Errors of the workflow runtime. Retry meaning lives on the error (``code``, ``retryable``,
``retry_after``), as in Temporal's ApplicationError.

Tree::

    AutomateError
    └── RuntimeFailure               something went wrong running a workflow
        ├── StepError                 an action failed; ``retryable``: may the retry policy apply
        │   └── StepTimeout           the step ran past its timeout (retryable)
        ├── TemplateError             a step's input template failed to render (permanent)
        ├── OutputError               a step's output is not JSON or too large (permanent)
        └── WorkflowValidationError   a workflow definition was refused; ``faults`` lists (path, message)
"""

from __future__ import annotations

from automate.errors import AutomateError

__all__ = ["OutputError", "RuntimeFailure", "StepError", "StepTimeout", "TemplateError",
           "WorkflowValidationError"]


class RuntimeFailure(AutomateError):
    code = "runtime"


class StepError(RuntimeFailure):
    """An action failed.

    Args:
        message: What went wrong, without secrets.
        code: A stable error code the step's retry policy can name (e.g. ``http.503``, ``timeout``).
        retryable: Whether the failure is transient.
        retry_after: Seconds the remote side asked us to wait (HTTP Retry-After), if any.
    """

    code = "step.failed"

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message, code=code, retryable=retryable)
        self.retry_after = retry_after


class StepTimeout(StepError):
    code = "timeout"

    def __init__(self, message: str) -> None:
        super().__init__(message, code="timeout", retryable=True)


class TemplateError(RuntimeFailure):
    code = "template"


class OutputError(RuntimeFailure):
    code = "output"


class WorkflowValidationError(RuntimeFailure):
    """A workflow definition was refused. ``faults`` holds every (JSON path, message) found."""

    code = "workflow.invalid"

    def __init__(self, faults: list[tuple[str, str]]) -> None:
        self.faults = faults
        listed = "; ".join(f"{path}: {message}" for path, message in faults)
        super().__init__(f"invalid workflow ({len(faults)} fault(s)): {listed}")
