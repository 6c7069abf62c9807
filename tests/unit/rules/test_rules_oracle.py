"""Property tests: json-logic-qubit as an oracle for generated rules and contexts.

qubit agrees with the classic suite (tests.json) but not everywhere with JavaScript, so the generated
rules stay inside the domain where qubit and the conformance suites agree:

* values are small integers, strings that do not read as numbers, and lists of those; no ``null``,
  floats, booleans-as-numbers or objects (qubit compares ``"1.0" == 1`` as strings, ``null < 1`` as
  false, ``true == 2`` as true, and treats ``{}`` as falsy);
* loose comparisons and arithmetic only pair numbers with numbers and strings with strings, and the
  variables they read are always present (the newer suites raise ``NaN`` for ``1 == "a"``; qubit says
  false); strict comparisons may mix types;
* no ``/`` or ``%`` (qubit raises ZeroDivisionError and uses Python's modulo sign), ``-`` takes at most
  two operands and ``>``/``>=``/``==`` exactly two (qubit's arities), ``max``/``min`` at least one;
* sizes stay small enough that products remain exact integers below 2**53.

Inside that domain every answer must be the same JSON value (type-aware: a bool never equals a number).
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from json_logic import jsonLogic

from automate.rules import RuleEngine
from automate.rules.semantics import truthy

ENGINE = RuleEngine(cache_size=4096)
NUMBER_KEYS = ["n1", "n2", "n3"]
STRING_KEYS = ["s1", "s2"]
WORDS = ["a", "b", "ab", "abc", "x", "yz", ""]
PROPERTY_SETTINGS = settings(max_examples=250, deadline=None, database=None)


def var(key: str) -> dict[str, Any]:
    return {"var": key}


small_ints = st.integers(min_value=-9, max_value=9)
number_leaf = small_ints | st.sampled_from(NUMBER_KEYS).map(var)
string_leaf = st.sampled_from(WORDS) | st.sampled_from(STRING_KEYS).map(var)
number_list = st.lists(small_ints, max_size=4) | st.just(var("ns"))
string_list = st.lists(st.sampled_from(WORDS), max_size=4) | st.just(var("ss"))


def number_expressions(boolean: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(inner, max_size=3).map(lambda args: {"+": args}),
            st.lists(inner, min_size=1, max_size=2).map(lambda args: {"-": args}),
            st.lists(inner, max_size=3).map(lambda args: {"*": args}),
            st.tuples(st.sampled_from(["max", "min"]), st.lists(inner, min_size=1, max_size=3)).map(
                lambda pair: {pair[0]: pair[1]}
            ),
            st.tuples(boolean, inner, inner).map(lambda parts: {"if": list(parts)}),
        )

    return st.recursive(number_leaf, extend, max_leaves=6)


def string_expressions(boolean: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            st.lists(inner | small_ints, max_size=3).map(lambda args: {"cat": args}),
            st.tuples(inner, st.integers(-4, 4)).map(lambda parts: {"substr": list(parts)}),
            st.tuples(inner, st.integers(-4, 4), st.integers(-4, 4)).map(
                lambda parts: {"substr": list(parts)}
            ),
            st.tuples(boolean, inner, inner).map(lambda parts: {"if": list(parts)}),
        )

    return st.recursive(string_leaf, extend, max_leaves=5)


def comparison(operands: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    pair = st.tuples(st.sampled_from(["==", "!=", "===", "!==", "<", "<=", ">", ">="]), operands, operands)
    between = st.tuples(st.sampled_from(["<", "<="]), operands, operands, operands)
    return st.one_of(pair, between).map(lambda parts: {parts[0]: list(parts[1:])})


def build_strategies() -> dict[str, st.SearchStrategy[Any]]:
    boolean: st.SearchStrategy[Any] = st.deferred(lambda: boolean_expression)
    numbers = number_expressions(boolean)
    strings = string_expressions(boolean)
    mixed_strict = st.tuples(st.sampled_from(["===", "!=="]), numbers, strings).map(
        lambda parts: {parts[0]: [parts[1], parts[2]]}
    )
    membership = st.one_of(
        st.tuples(numbers, number_list).map(lambda parts: {"in": list(parts)}),
        st.tuples(strings, string_list).map(lambda parts: {"in": list(parts)}),
        st.tuples(strings, strings).map(lambda parts: {"in": list(parts)}),
    )
    missing = st.lists(st.sampled_from(["opt1", "opt2", "n1", "s1", "nested.k"]), max_size=3).map(
        lambda keys: {"missing": keys}
    )
    lists = st.one_of(
        missing,
        st.lists(number_list | numbers, max_size=3).map(lambda args: {"merge": args}),
    )
    scalar = numbers | strings
    anything = scalar | lists | st.deferred(lambda: boolean_expression)
    logical = st.tuples(st.sampled_from(["and", "or"]), st.lists(anything, max_size=3)).map(
        lambda parts: {parts[0]: parts[1]}
    )
    negation = st.tuples(st.sampled_from(["!", "!!"]), anything).map(lambda parts: {parts[0]: [parts[1]]})
    boolean_expression = st.one_of(
        comparison(numbers),
        comparison(strings),
        mixed_strict,
        membership,
        negation,
        st.booleans(),
    )
    branching = st.tuples(anything, anything, anything).map(lambda parts: {"if": list(parts)})
    return {"any": st.one_of(anything, logical, branching)}


RULES = build_strategies()["any"]
CONTEXTS = st.fixed_dictionaries(
    {
        **{key: small_ints for key in NUMBER_KEYS},
        **{key: st.sampled_from(WORDS) for key in STRING_KEYS},
        "ns": st.lists(small_ints, max_size=4),
        "ss": st.lists(st.sampled_from(WORDS), max_size=4),
    },
    optional={"opt1": st.sampled_from([1, "", "v"]), "opt2": st.just("present"), "nested": st.just({"k": 1})},
)


def same(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is bool and type(right) is bool and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right or math.isclose(left, right, rel_tol=1e-10)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


@PROPERTY_SETTINGS
@given(rule=RULES, context=CONTEXTS)
def test_compiled_rules_agree_with_qubit(rule: Any, context: dict[str, Any]) -> None:
    expected = jsonLogic(rule, context)
    actual = ENGINE.apply(rule, context)
    assert same(actual, expected), f"ours {actual!r} != qubit {expected!r}"


@PROPERTY_SETTINGS
@given(rule=RULES, context=CONTEXTS)
def test_evaluate_and_explain_agree_with_apply(rule: Any, context: dict[str, Any]) -> None:
    compiled = ENGINE.compile(rule)
    result = compiled.apply(context)
    assert compiled.evaluate(context) is truthy(result)
    explanation = compiled.explain(context)
    assert same(explanation.result, result)
    assert explanation.matched is truthy(result)


def test_the_domain_exercises_every_generated_operator() -> None:
    """Guard against a strategy silently collapsing to a few shapes."""
    seen: set[str] = set()

    @settings(max_examples=400, deadline=None, database=None, derandomize=True)
    @given(rule=RULES)
    def collect(rule: Any) -> None:
        pending = [rule]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                seen.update(item)
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)

    collect()
    expected = {"+", "-", "*", "max", "min", "if", "cat", "substr", "==", "!=", "===", "!==", "<", "<=", ">"}
    expected |= {">=", "in", "missing", "merge", "and", "or", "!", "!!", "var"}
    assert expected <= seen
