"""Exceptions raised by the rules engine.

Every error carries the JSON path of the fault inside the rule (``path``, e.g. ``$.and[1].var``) and a
stable ``type`` string. The ``type`` strings are the ones the JSONLogic community suites use for thrown
errors ("NaN", "Invalid Arguments", "Unknown Operator", ...), so a rule author can branch on them with the
``try`` operator and a caller can branch on them in Python without parsing messages.

Tree::

    RuleError                         root: .path, .type, .code; never retryable (rules are pure)
    ├── RuleValidationError           the rule itself is malformed; raised by compile_rule
    │   ├── UnknownOperatorError          "Unknown Operator": no such operator, or several keys
    │   ├── InvalidArgumentsError         "Invalid Arguments": wrong argument count or shape
    │   ├── NonJsonRuleError              "Invalid Rule": a value JSON cannot represent
    │   └── RuleTooComplexError           "Exceeded Allowed Depth": too deep or too many nodes
    └── RuleEvaluationError           evaluating a valid rule against a context failed
        ├── NaNError                      "NaN": arithmetic or comparison on a non-number
        ├── InvalidOperandError           "Invalid Arguments": an operand of the wrong type at run time
        ├── ThrownError                   the rule's own {"throw": ...}; .type is what was thrown
        ├── InvalidDataError              "Invalid Data": the context holds a non-JSON value
        ├── OperatorError                 "Operator Error": a registered custom operator raised
        └── EvaluationDepthError          "Exceeded Allowed Depth": data or nesting too deep to evaluate

Validation errors are raised before any context is seen, so a workflow definition can be rejected at
save time; evaluation errors depend on the context and are what ``{"try": [...]}`` catches.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "EvaluationDepthError",
    "InvalidArgumentsError",
    "InvalidDataError",
    "InvalidOperandError",
    "NaNError",
    "NonJsonRuleError",
    "OperatorError",
    "RuleError",
    "RuleEvaluationError",
    "RuleTooComplexError",
    "RuleValidationError",
    "ThrownError",
    "UnknownOperatorError",
]


class RuleError(Exception):
    """Root of every error the rules engine raises.

    Attributes:
        message: Human-readable description, without the path.
        path: JSON path of the faulting node inside the rule (``$`` is the whole rule).
        type: Stable error type string, shared with the JSONLogic community suites.
        code: Stable machine code for logs and metrics (``rules.<snake_case>``).
        retryable: Always False: evaluating the same rule on the same data fails the same way.
    """

    default_type: ClassVar[str] = "Rule Error"
    code: ClassVar[str] = "rules.error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, path: str = "$", type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.type = type if type is not None else self.default_type

    def __str__(self) -> str:
        return f"{self.message} (at {self.path})"


class RuleValidationError(RuleError):
    """The rule is malformed; raised by ``compile_rule`` before any evaluation."""

    default_type = "Invalid Rule"
    code = "rules.invalid_rule"


class UnknownOperatorError(RuleValidationError):
    """An object names an operator nobody registered, or has more than one key."""

    default_type = "Unknown Operator"
    code = "rules.unknown_operator"


class InvalidArgumentsError(RuleValidationError):
    """An operator got the wrong number of arguments, or arguments of an impossible shape."""

    default_type = "Invalid Arguments"
    code = "rules.invalid_arguments"


class NonJsonRuleError(RuleValidationError):
    """The rule holds a value JSON cannot represent (a tuple, a set, NaN, a non-string key...)."""

    default_type = "Invalid Rule"
    code = "rules.non_json_rule"


class RuleTooComplexError(RuleValidationError):
    """The rule nests deeper, or has more nodes, than the engine accepts."""

    default_type = "Exceeded Allowed Depth"
    code = "rules.too_complex"


class RuleEvaluationError(RuleError):
    """Evaluating a valid rule against a context failed.

    ``type`` names the failure the way the JSONLogic suites do; ``error_object`` is the JSON value the
    ``try`` operator hands to its fallback branches (``{"type": ...}`` unless a rule threw an object).
    """

    default_type = "Evaluation Error"
    code = "rules.evaluation_error"

    @property
    def error_object(self) -> Any:
        """The JSON value a ``try`` fallback sees as its data."""
        return {"type": self.type}


class NaNError(RuleEvaluationError):
    """An arithmetic result or a loose comparison operand is not a number (JavaScript's NaN)."""

    default_type = "NaN"
    code = "rules.nan"


class InvalidOperandError(RuleEvaluationError):
    """An operand has a type the operator cannot use, found only at evaluation time."""

    default_type = "Invalid Arguments"
    code = "rules.invalid_operand"


class ThrownError(RuleEvaluationError):
    """Raised by the rule's own ``throw`` operator.

    Attributes:
        value: The thrown JSON value; a string becomes ``{"type": <string>}``.
    """

    code = "rules.thrown"

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
    code = "rules.invalid_data"


class OperatorError(RuleEvaluationError):
    """A custom operator raised; the original exception is chained as ``__cause__``."""

    default_type = "Operator Error"
    code = "rules.operator_error"


class EvaluationDepthError(RuleEvaluationError):
    """The data or the evaluation nests deeper than Python's stack allows."""

    default_type = "Exceeded Allowed Depth"
    code = "rules.evaluation_depth"
