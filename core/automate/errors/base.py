"""The root of the tree, and the error of an API called in a way it does not allow."""

from __future__ import annotations

from typing import Any

from automate.errors.codes import ErrorCodes

__all__ = ["AutomateError", "UsageError"]


def _rebuild(cls: type[AutomateError], args: tuple[Any, ...], state: dict[str, Any]) -> AutomateError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class AutomateError(Exception):
    """Root of every error Automate raises.

    ``AutomateError(ErrorCodes.INTERNAL, "message")`` gives the code; a subclass has its own
    (``ConfigurationError("message")``), which ``code=`` can refine.

    Attributes:
        code: A stable, machine-readable code (see :class:`ErrorCodes`).
        message: What went wrong, for people; never a secret.
        retryable: Whether trying the same thing again may succeed.
        retry_after: Seconds the other side asked us to wait before trying again, if it said.
    """

    code: str = ErrorCodes.INTERNAL
    retryable: bool = False
    retry_after: float | None = None

    def __init__(self, code_or_message: str, message: str | None = None, /, *, code: str | None = None,
                 retryable: bool | None = None, retry_after: float | None = None) -> None:
        if message is not None:
            if code is not None:
                raise UsageError("give the code once: AutomateError(code, message) or code=")
            code, text = code_or_message, message
        else:
            text = code_or_message
        super().__init__(text)
        self.message = text
        if code is not None:
            self.code = str(code) if not isinstance(code, ErrorCodes) else code
        if retryable is not None:
            self.retryable = retryable
        if retry_after is not None:
            self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other arguments than the root; rebuild from the state, not by calling __init__.
        return _rebuild, (type(self), self.args, dict(self.__dict__))


class UsageError(AutomateError, TypeError, ValueError):
    """An API was called in a way it does not allow: a programming error, caught as a TypeError or a
    ValueError as Python code expects, or as an AutomateError."""

    code = ErrorCodes.USAGE
