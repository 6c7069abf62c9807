"""Errors of the rules engine (``automate.rules``)."""

from __future__ import annotations

from typing import Any, ClassVar

from automate.errors.base import AutomateError
from automate.errors.codes import ErrorCodes

__all__ = ["EvaluationDepthError", "InvalidArgumentsError", "InvalidDataError", "InvalidOperandError",
           "NaNError", "NonJsonRuleError", "OperatorError", "RuleError", "RuleEvaluationError",
           "RuleLimitError", "RuleTooComplexError", "RuleValidationError", "ThrownError",
           "UnknownOperatorError"]


# --- rules ---------------------------------------------------------------------------------------------


class RuleError(AutomateError):
    """Root of the rules engine's errors: every one carries the JSON path of the fault inside the rule
    (``path``, e.g. ``$.and[1].var``) and a ``type`` string, the one the JSONLogic community suites use
    for thrown errors ("NaN", "Invalid Arguments"...), so that a rule's ``try`` and a caller can branch on
    it without parsing messages. Never retryable: the same rule on the same data fails the same way.

    Validation errors are raised before any context is seen (a workflow definition is refused when it
    is applied); evaluation errors depend on the context and are what ``{"try": [...]}`` catches.
    """

    default_type: ClassVar[str] = "Rule Error"
    code = ErrorCodes.RULES_ERROR

    def __init__(self, message: str, *, path: str = "$", type: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.type = type if type is not None else self.default_type

    def __str__(self) -> str:
        return f"{self.message} (at {self.path})"


class RuleValidationError(RuleError):
    """The rule is malformed; raised by ``compile_rule`` before any evaluation."""

    default_type = "Invalid Rule"
    code = ErrorCodes.RULES_INVALID_RULE


class UnknownOperatorError(RuleValidationError):
    """An object names an operator nobody registered, or has more than one key."""

    default_type = "Unknown Operator"
    code = ErrorCodes.RULES_UNKNOWN_OPERATOR


class InvalidArgumentsError(RuleValidationError):
    """An operator got the wrong number of arguments, or arguments of an impossible shape."""

    default_type = "Invalid Arguments"
    code = ErrorCodes.RULES_INVALID_ARGUMENTS


class NonJsonRuleError(RuleValidationError):
    """The rule holds a value JSON cannot represent (a tuple, a set, NaN, a non-string key...)."""

    default_type = "Invalid Rule"
    code = ErrorCodes.RULES_NON_JSON_RULE


class RuleTooComplexError(RuleValidationError):
    """The rule nests deeper, or has more nodes, than the engine accepts."""

    default_type = "Exceeded Allowed Depth"
    code = ErrorCodes.RULES_TOO_COMPLEX


class RuleEvaluationError(RuleError):
    """Evaluating a valid rule against a context failed.

    ``type`` names the failure the way the JSONLogic suites do; ``error_object`` is the JSON value the
    ``try`` operator hands to its fallback branches (``{"type": ...}`` unless a rule threw an object).
    """

    default_type = "Evaluation Error"
    code = ErrorCodes.RULES_EVALUATION_ERROR

    @property
    def error_object(self) -> Any:
        """The JSON value a ``try`` fallback sees as its data."""
        return {"type": self.type}


class NaNError(RuleEvaluationError):
    """An arithmetic result or a loose comparison operand is not a number (JavaScript's NaN)."""

    default_type = "NaN"
    code = ErrorCodes.RULES_NAN


class InvalidOperandError(RuleEvaluationError):
    """An operand has a type the operator cannot use, found only at evaluation time."""

    default_type = "Invalid Arguments"
    code = ErrorCodes.RULES_INVALID_OPERAND


class ThrownError(RuleEvaluationError):
    """Raised by the rule's own ``throw`` operator.

    Attributes:
        value: The thrown JSON value; a string becomes ``{"type": <string>}``.
    """

    code = ErrorCodes.RULES_THROWN

    def __init__(self, message: str, *, value: Any, path: str = "$", type: str | None = None) -> None:
        super().__init__(message, path=path, type=type)
        self.value = value

    @property
    def error_object(self) -> Any:
        """The thrown value itself, so ``{"throw": {"val": []}}`` re-throws an error object unchanged."""
        return self.value


class InvalidDataError(RuleEvaluationError):
    """The context (or a value reached through it) is not JSON-like: a datetime, a set, an object."""

    default_type = "Invalid Data"
    code = ErrorCodes.RULES_INVALID_DATA


class OperatorError(RuleEvaluationError):
    """A custom operator raised; the original exception is chained as ``__cause__``."""

    default_type = "Operator Error"
    code = ErrorCodes.RULES_OPERATOR_ERROR


class EvaluationDepthError(RuleEvaluationError):
    """The data or the evaluation nests deeper than Python's stack allows."""

    default_type = "Exceeded Allowed Depth"
    code = ErrorCodes.RULES_EVALUATION_DEPTH


class RuleLimitError(RuleEvaluationError):
    """The evaluation went past one of the engine's limits (``automate.rules.RuleLimits``): it built a
    string or an array larger than allowed, or did more work than its budget (iterations, and the values
    they went through). A rule's ``try`` does not catch it.

    Attributes:
        limit: Which limit: ``"string"``, ``"array"`` or ``"work"``.
    """

    default_type = "Exceeded Limit"
    code = ErrorCodes.RULES_LIMIT

    def __init__(self, message: str, *, limit: str, path: str = "$") -> None:
        super().__init__(message, path=path)
        self.limit = limit
