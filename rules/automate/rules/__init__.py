"""JSONLogic rules for Automate: validated once, compiled to Python, explainable.

Triggers and workflow ``when`` conditions are JSONLogic rules. This package validates a rule completely
before it is used (unknown operators, wrong argument counts and non-JSON values fail at compile time with
the JSON path of the fault), compiles it to Python code, caches the compilation, and evaluates it with
JavaScript's semantics, as JSONLogic defines them::

    from automate.rules import compile_rule, evaluate

    evaluate({">=": [{"var": "amount"}, 100]}, {"amount": 150})    # True

    rule = compile_rule({"in": [{"var": "status"}, ["active", "pending"]]})
    rule.evaluate({"status": "active"})                              # True
    print(rule.explain({"status": "closed"}).render())               # why not

It imports nothing outside the standard library but the project's error tree (:mod:`automate.errors`),
so the processors and the workflow runtime share it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from automate.errors import (
    EvaluationDepthError,
    InvalidArgumentsError,
    InvalidDataError,
    InvalidOperandError,
    NaNError,
    NonJsonRuleError,
    OperatorError,
    RuleError,
    RuleEvaluationError,
    RuleLimitError,
    RuleTooComplexError,
    RuleValidationError,
    ThrownError,
    UnknownOperatorError,
)

from .compiler import CacheInfo, CompiledRule, RuleEngine
from .explain import ExplainNode, Explanation
from .limits import RuleLimits

__all__ = [
    "CacheInfo",
    "CompiledRule",
    "EvaluationDepthError",
    "ExplainNode",
    "Explanation",
    "InvalidArgumentsError",
    "InvalidDataError",
    "InvalidOperandError",
    "NaNError",
    "NonJsonRuleError",
    "OperatorError",
    "RuleEngine",
    "RuleError",
    "RuleEvaluationError",
    "RuleLimitError",
    "RuleLimits",
    "RuleTooComplexError",
    "RuleValidationError",
    "ThrownError",
    "UnknownOperatorError",
    "apply",
    "compile_rule",
    "default_engine",
    "evaluate",
    "explain",
    "register_operator",
    "unregister_operator",
]

_DEFAULT_ENGINE: Final = RuleEngine()


def default_engine() -> RuleEngine:
    """The engine behind the module-level functions (its operators and cache are process-wide)."""
    return _DEFAULT_ENGINE


def compile_rule(rule_spec: Any) -> CompiledRule:
    """Validate and compile a rule once, for repeated evaluation.

    Compilations are cached by the rule's canonical JSON, so compiling the same rule again is cheap.

    Raises:
        RuleValidationError: The rule is malformed; ``path`` points at the fault (``$.and[1].var``).
    """
    return _DEFAULT_ENGINE.compile(rule_spec)


def evaluate(rule_spec: Any, context: Any = None) -> bool:
    """Whether ``rule_spec`` matches ``context``: the JSONLogic truthiness of its result.

    Raises:
        RuleValidationError: The rule is malformed.
        RuleEvaluationError: Evaluation failed on this context (e.g. ``NaN``); ``type`` names why.
    """
    return _DEFAULT_ENGINE.compile(rule_spec).evaluate(context)


def apply(rule: Any, data: Any = None) -> Any:
    """The raw JSONLogic value of ``rule`` on ``data`` (what ``jsonLogic.apply`` returns in JavaScript).

    Raises:
        RuleValidationError: The rule is malformed.
        RuleEvaluationError: Evaluation failed on this data.
    """
    return _DEFAULT_ENGINE.compile(rule).apply(data)


def explain(rule: Any, context: Any = None) -> Explanation:
    """Why ``rule`` matched ``context`` or not, as a tree of sub-results (``render()``, ``to_dict()``).

    Evaluation errors are part of the explanation rather than raised.

    Raises:
        RuleValidationError: The rule is malformed.
    """
    return _DEFAULT_ENGINE.compile(rule).explain(context)


def register_operator(name: str, fn: Callable[..., Any]) -> None:
    """Register a custom operator on the default engine: ``{name: [args...]}`` calls ``fn(*args)``.

    Raises:
        ValueError: ``name`` is empty or a built-in operator.
        TypeError: ``fn`` is not callable.
    """
    _DEFAULT_ENGINE.register_operator(name, fn)


def unregister_operator(name: str) -> None:
    """Remove a custom operator from the default engine.

    Raises:
        KeyError: No custom operator has that name.
    """
    _DEFAULT_ENGINE.unregister_operator(name)
