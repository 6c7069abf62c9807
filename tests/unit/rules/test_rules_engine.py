"""Compilation, caching, custom operators and bad input (deep, huge, cyclic, non-JSON)."""

from __future__ import annotations

import datetime
import logging
import threading
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import pytest

import automate.rules
from automate.rules import (
    CompiledRule,
    EvaluationDepthError,
    InvalidDataError,
    NonJsonRuleError,
    RuleEngine,
    UnknownOperatorError,
    apply,
    compile_rule,
    default_engine,
    evaluate,
    explain,
    register_operator,
    unregister_operator,
)

PUBLIC_NAMES = {
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
}


def nest(operator: str, levels: int, leaf: Any) -> Any:
    rule = leaf
    for _ in range(levels):
        rule = {operator: [rule]}
    return rule


def test_public_names_are_pinned() -> None:
    assert set(automate.rules.__all__) == PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert getattr(automate.rules, name) is not None


def test_seed_examples_work_as_documented() -> None:
    assert evaluate({">=": [{"var": "amount"}, 100]}, {"amount": 150}) is True
    rule = {
        "and": [
            {"==": [{"var": "status"}, "active"]},
            {"or": [{">": [{"var": "amount"}, 1000]}, {"==": [{"var": "priority"}, "high"]}]},
        ]
    }
    assert evaluate(rule, {"status": "active", "amount": 500, "priority": "high"}) is True
    passed = compile_rule({">=": [{"var": "score"}, 80]})
    assert [passed.evaluate({"score": score}) for score in (79, 80, 95.5)] == [False, True, True]


def test_evaluate_answers_truthiness_and_apply_the_raw_value() -> None:
    rule = {"if": [{"var": "vip"}, [], "standard"]}
    compiled = compile_rule(rule)
    assert compiled.apply({"vip": True}) == []
    assert compiled.evaluate({"vip": True}) is False
    assert compiled.apply({"vip": False}) == "standard"
    assert compiled.evaluate({"vip": False}) is True
    assert compile_rule({"var": "obj"}).evaluate({"obj": {}}) is True


def test_same_rule_compiles_once_whatever_its_key_order() -> None:
    engine = RuleEngine()
    first = engine.compile({"and": [{"==": [{"var": "a"}, 1]}, {"in": ["x", {"var": "tags"}]}]})
    reordered: dict[str, Any] = {"and": [{"==": [{"var": "a"}, 1]}, {"in": ["x", {"var": "tags"}]}]}
    second = engine.compile(dict(reordered))
    assert second is first
    info = engine.cache_info()
    assert (info.hits, info.misses, info.size) == (1, 1, 1)


def test_canonical_form_sorts_object_keys() -> None:
    engine = RuleEngine()
    first = engine.compile({"preserve": {"a": 1, "b": 2}})
    second = engine.compile({"preserve": {"b": 2, "a": 1}})
    assert second is first


def test_numbers_and_booleans_are_distinct_cache_entries() -> None:
    engine = RuleEngine()
    as_int = engine.compile({"===": [{"var": "x"}, 1]})
    as_float = engine.compile({"===": [{"var": "x"}, 1.0]})
    as_bool = engine.compile({"===": [{"var": "x"}, True]})
    assert len({id(as_int), id(as_float), id(as_bool)}) == 3
    assert as_bool.evaluate({"x": 1}) is False
    assert as_int.evaluate({"x": 1.0}) is True


def test_cache_does_not_confuse_json_lookalikes() -> None:
    engine = RuleEngine()
    engine.compile({"in": [1, [1, 2]]})
    with pytest.raises(NonJsonRuleError):
        engine.compile({"in": [1, (1, 2)]})


def test_cache_is_bounded_least_recently_used() -> None:
    engine = RuleEngine(cache_size=2)
    first = engine.compile({"var": "a"})
    engine.compile({"var": "b"})
    assert engine.compile({"var": "a"}) is first
    engine.compile({"var": "c"})
    assert engine.cache_info().size == 2
    assert engine.compile({"var": "a"}) is first
    assert engine.cache_info().hits == 2
    engine.compile({"var": "b"})
    assert engine.cache_info().misses == 4


def test_cache_can_be_disabled_and_cleared() -> None:
    engine = RuleEngine(cache_size=0)
    assert engine.compile({"var": "a"}) is not engine.compile({"var": "a"})
    cached = RuleEngine()
    cached.compile({"var": "a"})
    cached.clear_cache()
    assert cached.cache_info().size == 0
    with pytest.raises(ValueError):
        RuleEngine(cache_size=-1)


def test_compiled_rule_is_isolated_from_later_mutation() -> None:
    rule: dict[str, Any] = {"in": [{"var": "status"}, ["open", "pending"]]}
    compiled = RuleEngine().compile(rule)
    rule["in"][1].append("closed")
    assert compiled.evaluate({"status": "closed"}) is False
    assert compiled.rule == {"in": [{"var": "status"}, ["open", "pending"]]}


def test_returned_literals_are_copies() -> None:
    compiled = compile_rule({"if": [True, {"preserve": {"tags": ["a"]}}, None]})
    first = compiled.apply({})
    first["tags"].append("mutated")
    assert compiled.apply({}) == {"tags": ["a"]}


def test_concurrent_compilation_and_evaluation_agree() -> None:
    engine = RuleEngine(cache_size=8)
    results: list[bool] = []
    lock = threading.Lock()

    def work(offset: int) -> None:
        for index in range(200):
            value = engine.evaluate({">": [{"var": "n"}, index % 10]}, {"n": (index + offset) % 10})
            with lock:
                results.append(value == ((index + offset) % 10 > index % 10))

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 800
    assert all(results)


def test_custom_operator_on_an_engine() -> None:
    engine = RuleEngine()
    engine.register_operator("starts_with", lambda text, prefix: str(text).startswith(str(prefix)))
    rule = {"and": [{"starts_with": [{"var": "sku"}, "ABC-"]}, {">": [{"var": "qty"}, 0]}]}
    assert engine.evaluate(rule, {"sku": "ABC-12", "qty": 2}) is True
    assert engine.evaluate(rule, {"sku": "XYZ-12", "qty": 2}) is False
    assert engine.apply({"starts_with": ["ABC", "A"]}) is True


def test_reregistering_replaces_and_clears_the_cache() -> None:
    engine = RuleEngine()
    engine.register_operator("double", lambda value: value * 2)
    assert engine.apply({"double": [{"var": "n"}]}, {"n": 4}) == 8
    engine.register_operator("double", lambda value: value * 3)
    assert engine.apply({"double": [{"var": "n"}]}, {"n": 4}) == 12
    engine.unregister_operator("double")
    with pytest.raises(UnknownOperatorError):
        engine.compile({"double": [1]})
    with pytest.raises(KeyError):
        engine.unregister_operator("double")


def test_builtin_operators_cannot_be_replaced() -> None:
    engine = RuleEngine()
    with pytest.raises(ValueError, match="built-in"):
        engine.register_operator("var", lambda path: path)
    with pytest.raises(ValueError):
        engine.register_operator("", lambda: None)
    with pytest.raises(TypeError):
        engine.register_operator("not_callable", 42)  # type: ignore[arg-type]


def test_module_level_registration_uses_the_default_engine() -> None:
    register_operator("rules_test_upper", lambda text: str(text).upper())
    try:
        assert apply({"rules_test_upper": {"var": "name"}}, {"name": "ada"}) == "ADA"
        assert default_engine().apply({"rules_test_upper": "x"}) == "X"
        assert RuleEngine().compile({"var": "x"}) is not None
        with pytest.raises(UnknownOperatorError):
            RuleEngine().compile({"rules_test_upper": "x"})
    finally:
        unregister_operator("rules_test_upper")
    with pytest.raises(UnknownOperatorError):
        compile_rule({"rules_test_upper": "x"})


def test_log_operator_returns_its_value_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="automate.rules"):
        assert apply({"+": [{"log": {"var": "n"}}, 1]}, {"n": 41}) == 42
    assert [record.getMessage() for record in caplog.records] == ["rule log: 41"]
    assert caplog.records[0].__dict__["action"] == "rules.log"


@pytest.mark.parametrize(
    ("operator", "leaf", "expected"),
    [
        ("!", True, True),
        ("!!", 0, False),
        ("and", "x", "x"),
        ("or", 0, 0),
        ("if", 7, 7),
        ("+", "3", 3),
        ("cat", 5, "5"),
        ("merge", 1, [1]),
        ("??", None, None),
        ("try", 1, 1),
        ("max", 9, 9),
    ],
)
def test_thousand_level_rules_compile_and_evaluate(operator: str, leaf: Any, expected: Any) -> None:
    compiled = RuleEngine().compile(nest(operator, 1000, leaf))
    assert compiled.apply({}) == expected


def test_thousand_level_var_chain_and_deep_data() -> None:
    data: dict[str, Any] = {}
    cursor = data
    for _ in range(1000):
        cursor["a"] = {}
        cursor = cursor["a"]
    cursor["leaf"] = "found"
    path = ".".join(["a"] * 1000 + ["leaf"])
    assert apply({"var": path}, data) == "found"
    assert apply({"val": ["a"] * 1000 + ["leaf"]}, data) == "found"


def test_thousand_level_iterators_fail_cleanly_instead_of_recursing() -> None:
    rule = nest("map", 0, {"var": ""})
    for _ in range(1000):
        rule = {"map": [[1], rule]}
    with pytest.raises(EvaluationDepthError) as caught:
        apply(rule, {})
    assert caught.value.type == "Exceeded Allowed Depth"


def test_deep_literals_round_trip() -> None:
    value: Any = "core"
    for _ in range(1500):
        value = [value]
    result = apply({"preserve": value})
    depth = 0
    while isinstance(result, list):
        assert len(result) == 1
        result = result[0]
        depth += 1
    assert (depth, result) == (1500, "core")


@pytest.mark.timeout(60)
def test_huge_context_arrays_are_linear() -> None:
    numbers = list(range(300_000))
    context = {"xs": numbers}
    assert apply({"in": [299_999, {"var": "xs"}]}, context) is True
    assert apply({"some": [{"var": "xs"}, {"===": [{"var": ""}, 299_999]}]}, context) is True
    assert apply(
        {"reduce": [{"var": "xs"}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}, context
    ) == sum(numbers)
    assert len(apply({"filter": [{"var": "xs"}, {">=": [{"var": ""}, 299_990]}]}, context)) == 10


def test_huge_literal_arrays_compile_as_constants() -> None:
    compiled = RuleEngine().compile({"in": [{"var": "id"}, [f"id-{n}" for n in range(100_000)]]})
    assert compiled.evaluate({"id": "id-99999"}) is True
    assert compiled.evaluate({"id": "id-100000"}) is False


def test_growth_is_bounded_by_javascript_numbers() -> None:
    squaring = {"reduce": [{"var": "xs"}, {"*": [{"var": "accumulator"}, {"var": "accumulator"}]}, 2]}
    assert apply(squaring, {"xs": list(range(10_000))}) == float("inf")


def test_cyclic_context_is_handled() -> None:
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic
    looped: list[Any] = [1]
    looped.append(looped)
    assert apply({"var": "self.self.self.name"}, cyclic) == "loop"
    assert apply({"cat": [{"var": "l"}]}, {"l": looped}) == "1,"
    assert apply({"===": [{"var": "l"}, {"var": "l"}]}, {"l": looped}) is True
    assert explain({"var": "self"}, cyclic).to_dict()["result"] == "<dict>"


@pytest.mark.parametrize(
    ("rule", "context", "expected"),
    [
        ({">": [{"var": "amount"}, 100]}, {"amount": Decimal("100.5")}, True),
        ({"==": [{"var": "tier"}, 2]}, OrderedDict(tier=2), True),
        ({"in": ["b", {"var": "tags"}]}, {"tags": ("a", "b")}, True),
        ({"var": "1"}, ("zero", "one"), "one"),
        ({"var": "when"}, {"when": datetime.date(2024, 1, 1)}, datetime.date(2024, 1, 1)),
        ({"var": "a.b"}, {"a": 5}, None),
    ],
)
def test_python_contexts_that_read_as_json(rule: Any, context: Any, expected: Any) -> None:
    assert apply(rule, context) == expected


@pytest.mark.parametrize(
    ("rule", "context"),
    [
        ({">": [{"var": "when"}, 1]}, {"when": datetime.date(2024, 1, 1)}),
        ({"var": "year"}, datetime.date(2024, 1, 1)),
        ({"in": [1, {"var": "ids"}]}, {"ids": {1, 2}}),
        ({"var": "x"}, object()),
    ],
)
def test_non_json_contexts_raise_invalid_data(rule: Any, context: Any) -> None:
    with pytest.raises(InvalidDataError) as caught:
        apply(rule, context)
    assert caught.value.type == "Invalid Data"


def test_compiled_rule_exposes_source_and_repr() -> None:
    compiled = compile_rule({"==": [{"var": "status"}, "active"]})
    assert isinstance(compiled, CompiledRule)
    assert "def _apply(d0):" in compiled.source
    assert repr(compiled).startswith("CompiledRule(")


def test_rules_too_deep_for_json_dumps_still_compile_uncached() -> None:
    engine = RuleEngine()
    first = engine.compile(nest("!", 600, 0))
    second = engine.compile(nest("!", 600, 0))
    assert first is not second
    assert first.apply({}) is second.apply({}) is False
    assert engine.cache_info().size == 0
