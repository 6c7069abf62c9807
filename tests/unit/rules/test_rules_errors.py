"""The error tree: validation at compile time with JSON paths, typed evaluation errors with paths."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest

from automate import rules
from automate.rules import (
    EvaluationDepthError,
    InvalidArgumentsError,
    InvalidDataError,
    InvalidOperandError,
    NaNError,
    NonJsonRuleError,
    OperatorError,
    RuleEngine,
    RuleError,
    RuleEvaluationError,
    RuleTooComplexError,
    RuleValidationError,
    ThrownError,
    UnknownOperatorError,
    apply,
    compile_rule,
    evaluate,
)

ERROR_CLASSES: list[type[RuleError]] = [
    RuleValidationError,
    UnknownOperatorError,
    InvalidArgumentsError,
    NonJsonRuleError,
    RuleTooComplexError,
    RuleEvaluationError,
    NaNError,
    InvalidOperandError,
    ThrownError,
    InvalidDataError,
    OperatorError,
    EvaluationDepthError,
]


def test_every_error_is_a_rule_error_with_a_stable_code() -> None:
    codes = {error_class.code for error_class in ERROR_CLASSES}
    assert len(codes) == len(ERROR_CLASSES)
    for error_class in ERROR_CLASSES:
        assert issubclass(error_class, RuleError)
        assert error_class.retryable is False
        assert issubclass(error_class, RuleValidationError) != issubclass(error_class, RuleEvaluationError)


@pytest.mark.parametrize(
    ("rule", "error_class", "error_type", "path"),
    [
        ({"and": [True, {"nope": 1}]}, UnknownOperatorError, "Unknown Operator", "$.and[1]"),
        ({"and": [True, {"var": ["a", 1, 2]}]}, InvalidArgumentsError, "Invalid Arguments", "$.and[1].var"),
        ({"==": [1]}, InvalidArgumentsError, "Invalid Arguments", '$["=="]'),
        ({"if": "apple"}, InvalidArgumentsError, "Invalid Arguments", "$.if"),
        ({"<": {"preserve": [1, 2]}}, InvalidArgumentsError, "Invalid Arguments", '$["<"]'),
        ({"%": 5}, InvalidArgumentsError, "Invalid Arguments", '$["%"]'),
        ({"!": [1, 2]}, InvalidArgumentsError, "Invalid Arguments", '$["!"]'),
        ({"missing_some": [1]}, InvalidArgumentsError, "Invalid Arguments", "$.missing_some"),
        ({"map": [None, {"var": ""}]}, InvalidArgumentsError, "Invalid Arguments", "$.map[0]"),
        ({"filter": [[1], None]}, InvalidArgumentsError, "Invalid Arguments", "$.filter[1]"),
        ({"+": 1, "-": 2}, UnknownOperatorError, "Unknown Operator", "$"),
        ({"or": [{"in": [1, (1, 2)]}]}, NonJsonRuleError, "Invalid Rule", "$.or[0].in[1]"),
        ({"==": [math.nan, 1]}, NonJsonRuleError, "Invalid Rule", '$["=="][0]'),
        ({"preserve": {"a": [1, {2: "x"}]}}, NonJsonRuleError, "Invalid Rule", "$.preserve.a[1]"),
        ({"var": datetime.date(2024, 1, 1)}, NonJsonRuleError, "Invalid Rule", "$.var"),
        ({"in": ["a", {"x", "y"}]}, NonJsonRuleError, "Invalid Rule", "$.in[1]"),
        ({1: 2}, NonJsonRuleError, "Invalid Rule", "$"),
    ],
)
def test_compile_rejects_bad_rules_with_the_path_of_the_fault(
    rule: Any, error_class: type[RuleError], error_type: str, path: str
) -> None:
    with pytest.raises(error_class) as caught:
        compile_rule(rule)
    assert caught.value.type == error_type
    assert caught.value.path == path
    assert path in str(caught.value)


def test_validation_happens_before_any_evaluation() -> None:
    """The faulty branch is never reached at run time, yet compile_rule refuses the rule."""
    with pytest.raises(UnknownOperatorError):
        compile_rule({"if": [True, 1, {"typo_operator": []}]})


def test_rule_nested_past_the_limit_is_refused_clearly() -> None:
    rule: Any = 1
    for _ in range(2500):
        rule = {"!": [rule]}
    with pytest.raises(RuleTooComplexError) as caught:
        compile_rule(rule)
    assert caught.value.type == "Exceeded Allowed Depth"
    assert caught.value.path.startswith('$["!"][0]')


def test_rule_with_too_many_expressions_is_refused() -> None:
    with pytest.raises(RuleTooComplexError, match="more than"):
        compile_rule([{"var": f"k{index}"} for index in range(25_000)])


@pytest.mark.parametrize(
    ("rule", "data", "error_class", "error_type", "path"),
    [
        ({"/": [1, 0]}, None, NaNError, "NaN", "$"),
        ({"and": [True, {"+": [{"var": "x"}, 1]}]}, {"x": "abc"}, NaNError, "NaN", "$.and[1]"),
        ({"==": [{"var": "x"}, "active"]}, {"x": 5}, NaNError, "NaN", "$"),
        ({"all": [{"var": "missing"}, True]}, {}, InvalidOperandError, "Invalid Arguments", "$"),
        ({"max": ["1", 2]}, None, InvalidOperandError, "Invalid Arguments", "$"),
        ({"-": {"preserve": []}}, None, InvalidOperandError, "Invalid Arguments", "$"),
        ({"length": {"var": "n"}}, {"n": 3}, InvalidOperandError, "Invalid Arguments", "$"),
        ({"map": [[1, 2], {"throw": "bad item"}]}, None, ThrownError, "bad item", "$.map[1]"),
        (
            {"if": [True, {"var": "when.year"}]},
            {"when": datetime.date(2024, 1, 1)},
            InvalidDataError,
            "Invalid Data",
            "$.if[1]",
        ),
    ],
)
def test_evaluation_errors_are_typed_and_located(
    rule: Any, data: Any, error_class: type[RuleEvaluationError], error_type: str, path: str
) -> None:
    with pytest.raises(error_class) as caught:
        apply(rule, data)
    assert caught.value.type == error_type
    assert caught.value.path == path


def test_printing_absurdly_nested_data_is_a_depth_error() -> None:
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    with pytest.raises(EvaluationDepthError) as caught:
        apply({"cat": ["value: ", {"var": "deep"}]}, {"deep": deep})
    assert caught.value.type == "Exceeded Allowed Depth"
    assert caught.value.path == "$"


def test_throw_of_an_object_keeps_the_object_for_try() -> None:
    thrown = {"type": "Quota", "limit": 5}
    with pytest.raises(ThrownError) as caught:
        apply({"throw": {"var": "err"}}, {"err": thrown})
    assert caught.value.type == "Quota"
    assert caught.value.error_object == thrown
    assert apply({"try": [{"throw": {"var": "err"}}, {"var": "limit"}]}, {"err": thrown}) == 5


def test_try_falls_back_and_sees_the_error_type() -> None:
    rule = {"try": [{"/": [1, {"var": "d"}]}, {"cat": ["handled ", {"var": "type"}]}]}
    assert apply(rule, {"d": 0}) == "handled NaN"
    assert apply(rule, {"d": 4}) == 0.25


def test_try_does_not_catch_validation_errors() -> None:
    with pytest.raises(UnknownOperatorError):
        compile_rule({"try": [{"unknown": 1}, 0]})


def test_custom_operator_failure_becomes_operator_error_with_cause() -> None:
    engine = RuleEngine()

    def explode(value: Any) -> Any:
        raise ValueError(f"cannot handle {value}")

    engine.register_operator("explode", explode)
    with pytest.raises(OperatorError) as caught:
        engine.apply({"!": {"explode": [{"var": "x"}]}}, {"x": 3})
    assert caught.value.type == "Operator Error"
    assert caught.value.path == '$["!"]'
    assert isinstance(caught.value.__cause__, ValueError)
    assert engine.apply({"try": [{"explode": 1}, "fallback"]}) == "fallback"


def test_evaluate_raises_rather_than_guessing() -> None:
    with pytest.raises(NaNError):
        evaluate({">": [{"var": "amount"}, 10]}, {"amount": [1, 2]})


def test_errors_are_exported_from_the_package() -> None:
    exported: list[type[RuleError]] = [RuleError, *ERROR_CLASSES]
    for error_class in exported:
        assert getattr(rules, error_class.__name__) is error_class
