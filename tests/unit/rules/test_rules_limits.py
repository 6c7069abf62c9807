"""The rule engine's limits: every way a rule could build without bound or work without end stops with a
typed RuleLimitError (rules.limit), quickly; rules within the limits are unaffected."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from automate.errors import ErrorCodes, EvaluationDepthError, RuleEvaluationError, UsageError
from automate.rules import RuleEngine, RuleLimitError, RuleLimits, apply, evaluate, explain

ITEMS = list(range(1000))
BIG = "x" * 1_000_000


def acc() -> dict[str, Any]:
    return {"var": "accumulator"}


def outer(name: str, depth: int = 1) -> dict[str, Any]:
    """A value of the whole data, reached from inside ``depth`` iterator bodies (``val`` climbs a scope
    and its index per level)."""
    return {"val": [[2 * depth], name]}


@pytest.fixture
def quick() -> Iterator[None]:
    """Each case must stop well within a second or two, whatever the machine's load."""
    started = time.monotonic()
    yield
    assert time.monotonic() - started < 5


def limit_of(rule: Any, data: Any, engine: RuleEngine | None = None) -> RuleLimitError:
    with pytest.raises(RuleLimitError) as caught:
        (engine.apply if engine else apply)(rule, data)
    error = caught.value
    assert error.code == ErrorCodes.RULES_LIMIT
    assert error.type == "Exceeded Limit"
    assert isinstance(error, RuleEvaluationError)
    return error


@pytest.mark.usefixtures("quick")
class TestStrings:
    def test_reduce_doubling_a_string_with_cat(self) -> None:
        rule = {"reduce": [{"var": "items"}, {"cat": [acc(), acc()]}, "ab"]}
        assert limit_of(rule, {"items": ITEMS}).limit == "string"

    def test_cat_of_one_large_value_many_times(self) -> None:
        rule = {"cat": [{"var": "big"}] * 50}
        assert limit_of(rule, {"big": "y" * 100_000}).limit == "string"

    def test_cat_of_an_array_holding_one_large_value_many_times(self) -> None:
        rule = {"cat": [{"map": [{"var": "items"}, outer("big")]}]}
        assert limit_of(rule, {"items": ITEMS, "big": "z" * 10_000}).limit == "string"

    def test_substr_of_an_array_that_prints_too_long(self) -> None:
        rule = {"substr": [{"map": [{"var": "items"}, outer("big")]}, 0, 5]}
        assert limit_of(rule, {"items": ITEMS, "big": "z" * 10_000}).limit == "string"

    def test_in_with_a_needle_longer_than_the_haystack_is_false_not_an_error(self) -> None:
        rule = {"in": [{"map": [{"var": "items"}, outer("big")]}, "short haystack"]}
        assert apply(rule, {"items": ITEMS, "big": "z" * 10_000}) is False

    def test_the_limit_is_the_engines(self) -> None:
        engine = RuleEngine(limits=RuleLimits(max_string=10))
        assert limit_of({"cat": ["abcdef", "ghijkl"]}, None, engine).limit == "string"
        assert engine.apply({"cat": ["abcde", "fghij"]}) == "abcdefghij"


@pytest.mark.usefixtures("quick")
class TestArrays:
    def test_reduce_doubling_an_array_with_merge(self) -> None:
        rule = {"reduce": [{"var": "items"}, {"merge": [acc(), acc()]}, [1]]}
        assert limit_of(rule, {"items": ITEMS}).limit in ("array", "work")  # whichever is reached first
        engine = RuleEngine(limits=RuleLimits(max_array=1000))
        assert limit_of(rule, {"items": ITEMS}, engine).limit == "array"

    def test_merge_of_one_large_array_many_times(self) -> None:
        rule = {"merge": [{"var": "list"}] * 20}
        assert limit_of(rule, {"list": list(range(100_000))}).limit == "array"

    def test_the_limit_is_the_engines(self) -> None:
        engine = RuleEngine(limits=RuleLimits(max_array=3))
        assert limit_of({"merge": [[1, 2], [3, 4]]}, None, engine).limit == "array"
        assert engine.apply({"merge": [[1, 2], 3]}) == [1, 2, 3]


@pytest.mark.usefixtures("quick")
class TestWork:
    def test_map_inside_map_squares_the_work(self) -> None:
        rule = {"map": [{"var": "items"}, {"map": [outer("items"), {"var": ""}]}]}
        assert limit_of(rule, {"items": list(range(5000))}).limit == "work"

    def test_three_nested_quantifiers(self) -> None:
        inner = {"some": [outer("items", 2), {"==": [{"var": ""}, -1]}]}
        rule = {"some": [{"var": "items"}, {"some": [outer("items"), inner]}]}
        assert limit_of(rule, {"items": list(range(300))}).limit == "work"

    def test_comparing_a_large_outer_value_once_per_item(self) -> None:
        rule = {"some": [{"var": "items"}, {"==": [outer("big"), outer("other")]}]}
        data = {"items": list(range(100_000)), "big": BIG, "other": BIG[:-1] + "y"}
        assert limit_of(rule, data).limit == "work"

    def test_parsing_a_long_number_once_per_item(self) -> None:
        rule = {"map": [{"var": "items"}, {"+": [outer("number"), 1]}]}
        assert limit_of(rule, {"items": list(range(100_000)), "number": "1" * 500_000}).limit == "work"

    def test_strict_equality_of_large_outer_arrays_once_per_item(self) -> None:
        rule = {"some": [{"var": "items"}, {"===": [outer("a"), outer("b")]}]}
        data = {"items": list(range(10_000)), "a": [[0] * 10_000], "b": [[0] * 9_999 + [1]]}
        assert limit_of(rule, data).limit == "work"

    def test_copying_a_large_literal_once_per_item(self) -> None:
        rule = {"map": [{"var": "items"}, {"preserve": list(range(5000))}]}
        assert limit_of(rule, {"items": list(range(10_000))}).limit == "work"

    def test_a_list_scan_once_per_item(self) -> None:
        rule = {"some": [{"var": "items"}, {"in": ["absent", outer("list")]}]}
        assert limit_of(rule, {"items": list(range(10_000)), "list": ["x"] * 100_000}).limit == "work"

    def test_try_does_not_catch_a_limit(self) -> None:
        doubling = {"reduce": [{"var": "items"}, {"cat": [acc(), acc()]}, "ab"]}
        assert limit_of({"try": [doubling, "caught"]}, {"items": ITEMS}).limit == "string"
        nested = {"map": [{"var": "items"}, {"try": [{"map": [outer("items"), 1]}, 0]}]}
        assert limit_of(nested, {"items": list(range(5000))}).limit == "work"

    def test_the_budget_is_the_engines_and_per_evaluation(self) -> None:
        engine = RuleEngine(limits=RuleLimits(max_work=1000))
        rule = {"map": [{"var": "items"}, {"map": [outer("items"), 1]}]}
        assert limit_of(rule, {"items": list(range(40))}, engine).limit == "work"
        for _ in range(100):  # every evaluation gets its own budget
            assert engine.apply(rule, {"items": list(range(20))}) == [[1] * 20] * 20

    def test_a_budget_spent_on_one_thread_is_not_another_threads(self) -> None:
        engine = RuleEngine(limits=RuleLimits(max_work=5000))
        rule = {"map": [{"var": "items"}, {"map": [outer("items"), 1]}]}
        results: list[Any] = []

        def evaluate_small() -> None:
            for _ in range(200):
                results.append(engine.apply(rule, {"items": list(range(50))}))

        thread = threading.Thread(target=evaluate_small)
        thread.start()
        for _ in range(50):
            limit_of(rule, {"items": list(range(200))}, engine)
        thread.join()
        assert len(results) == 200


@pytest.mark.usefixtures("quick")
class TestNumbersAndNesting:
    def test_repeated_squaring_stays_a_javascript_number(self) -> None:
        rule = {"reduce": [{"var": "items"}, {"*": [acc(), acc()]}, 2]}
        assert apply(rule, {"items": ITEMS}) == float("inf")

    def test_a_huge_integer_in_the_data_is_read_as_a_float(self) -> None:
        assert apply({"+": [{"var": "n"}, 1]}, {"n": 10**4000}) == float("inf")
        assert apply({"cat": [{"var": "n"}]}, {"n": 10**300}) == "1e+300"

    def test_a_long_numeric_string_once(self) -> None:
        assert apply({"+": [{"var": "n"}, 1]}, {"n": "9" * 100_000}) == float("inf")

    def test_an_array_nested_by_reduce_evaluates_and_prints_typed(self) -> None:
        rule = {"reduce": [{"var": "items"}, [acc()], 0]}
        data = {"items": list(range(50_000))}
        assert evaluate(rule, data) is True
        with pytest.raises(EvaluationDepthError):
            apply({"cat": [rule]}, data)

    def test_log_of_a_huge_repetitive_value_is_short(self, caplog: pytest.LogCaptureFixture) -> None:
        rule = {"log": {"map": [{"var": "items"}, outer("big")]}}
        with caplog.at_level(logging.INFO, logger="automate.rules"):
            value = apply(rule, {"items": ITEMS, "big": BIG})
        assert len(value) == len(ITEMS)
        assert max(len(record.getMessage()) for record in caplog.records) < 500


class TestWithinTheLimits:
    def test_a_large_single_iteration_is_not_metered_per_item(self) -> None:
        items = [{"price": n} for n in range(200_000)]
        assert evaluate({"some": [{"var": "items"}, {">": [{"var": "price"}, 199_998]}]}, {"items": items})
        assert len(apply({"map": [{"var": "items"}, {"var": "price"}]}, {"items": items})) == 200_000

    def test_nested_iteration_within_the_budget(self) -> None:
        rule = {"map": [{"var": "items"}, {"reduce": [outer("items"), {"+": [acc(), 1]}, 0]}]}
        assert apply(rule, {"items": list(range(300))}) == [300] * 300

    def test_plain_rules_after_a_spent_budget(self) -> None:
        limit_of({"map": [{"var": "items"}, {"map": [outer("items"), 1]}]}, {"items": list(range(5000))})
        assert apply({"cat": ["a", {"var": "b"}]}, {"b": "c"}) == "ac"
        assert apply({"merge": [[1], {"var": "b"}]}, {"b": [2]}) == [1, 2]

    def test_explain_reports_a_limit(self) -> None:
        rule = {"reduce": [{"var": "items"}, {"cat": [acc(), acc()]}, "ab"]}
        explanation = explain(rule, {"items": ITEMS})
        assert explanation.error is not None
        assert explanation.error.type == "Exceeded Limit"

    def test_explaining_a_huge_repetitive_value_prints_it_short(self) -> None:
        started = time.monotonic()
        explanation = explain({"map": [{"var": "items"}, outer("big")]}, {"items": ITEMS, "big": BIG})
        assert len(explanation.render()) < 2000
        result = explanation.to_dict()["result"]
        assert isinstance(result, str) and "longer than 100000 characters" in result
        assert explain({"var": "a"}, {"a": [1, 2]}).to_dict()["result"] == [1, 2]
        assert time.monotonic() - started < 5

    def test_limits_are_positive_ints(self) -> None:
        for bad in (0, -1, 1.5, True):
            with pytest.raises(UsageError):
                RuleLimits(max_work=bad)  # type: ignore[arg-type]
