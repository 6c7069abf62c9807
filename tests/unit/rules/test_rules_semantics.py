"""JavaScript value semantics: truthiness, Number(), String(), loose and strict comparison."""

from __future__ import annotations

import math
from collections import OrderedDict
from decimal import Decimal
from enum import IntEnum
from typing import Any

import pytest

from automate.rules import InvalidDataError, NaNError, apply
from automate.rules.semantics import (
    format_number,
    js_number,
    js_string,
    json_kind,
    loose_eq,
    loose_le,
    loose_lt,
    parse_number,
    strict_eq,
    to_number,
    truthy,
)


class Level(IntEnum):
    LOW = 1
    HIGH = 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (0, False),
        (0.0, False),
        (-1, True),
        (math.nan, False),
        ("", False),
        ("0", True),
        (None, False),
        ([], False),
        ([0], True),
        ({}, True),
        ({"a": 0}, True),
        (OrderedDict(), True),
    ],
)
def test_truthiness_follows_javascript(value: Any, expected: bool) -> None:
    assert truthy(value) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("  12 ", 12),
        ("\u00a07\n", 7),
        ("-0.5", -0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("+4", 4),
        ("0x1F", 31),
        ("0b101", 5),
        ("0o17", 15),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        ("123456789012345678901234567890", 1.2345678901234568e29),
    ],
)
def test_parse_number_reads_like_javascript(text: str, expected: float) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["abc", "1_000", "inf", "nan", "1e", "--1", "0x", "1 2", "١٢"])
def test_parse_number_rejects_what_javascript_rejects(text: str) -> None:
    assert math.isnan(parse_number(text))


def test_integer_text_stays_exact() -> None:
    parsed = parse_number("42")
    assert parsed == 42
    assert type(parsed) is int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0),
        (True, 1),
        (False, 0),
        ("7", 7),
        (Decimal("2.5"), 2.5),
        (Level.HIGH, 5),
        (2**60, float(2**60)),
    ],
)
def test_js_number_coerces(value: Any, expected: float) -> None:
    assert js_number(value) == expected


@pytest.mark.parametrize("value", [[1], {}, "x"])
def test_to_number_raises_nan_for_non_numbers(value: Any) -> None:
    with pytest.raises(NaNError) as caught:
        to_number(value)
    assert caught.value.type == "NaN"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1.5, "1.5"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (1.25e-7, "1.25e-7"),
        (-2.5e30, "-2.5e+30"),
        (123.456, "123.456"),
        (math.inf, "Infinity"),
        (12, "12"),
    ],
)
def test_format_number_prints_like_javascript(number: float, expected: str) -> None:
    assert format_number(number) == expected


def test_js_string_of_arrays_objects_and_cycles() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    assert js_string([1, None, [2, 3], True]) == "1,,2,3,true"
    assert js_string({"a": 1}) == "[object Object]"
    assert js_string(None) == "null"
    assert js_string(cyclic) == "1,"


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (1, "1", True),
        (1, 1.0, True),
        (0, False, True),
        (1, True, True),
        ("a", "a", True),
        ("a", "b", False),
        (None, None, True),
        (None, 0, False),  # JavaScript: null == 0 is false (the suites say true)
        (None, 1, False),
        (None, "", False),
        (None, False, False),
        ("", 0, True),
        (" 3 ", 3, True),
    ],
)
def test_loose_equality(left: Any, right: Any, expected: bool) -> None:
    assert loose_eq(left, right) is expected
    assert loose_eq(right, left) is expected


# JavaScript's answers (node: `null == x`), which json-logic-js returns: null is loosely equal to null only.
NULL_AGAINST = [0, 1, -1, 0.0, -0.0, 0.5, "", "0", " ", "null", "false", False, True]


@pytest.mark.parametrize("other", NULL_AGAINST, ids=repr)
def test_null_loosely_equals_nothing_but_null_in_every_code_path(other: Any) -> None:
    for rule, data in (
        ({"==": [None, other]}, None),                              # two literals
        ({"==": [{"var": "x"}, other]}, {"x": None}),               # a variable against a literal
        ({"==": [other, {"var": "x"}]}, {"x": None}),
        ({"==": [{"var": "x"}, {"var": "y"}]}, {"x": None, "y": other}),  # two variables
        ({"==": [{"var": "missing"}, other]}, {}),                  # an absent variable reads as null
    ):
        assert apply(rule, data) is False, (rule, data)
        assert apply({"!=": rule["=="]}, data) is True, (rule, data)
    assert apply({"==": [{"var": "x"}, None]}, {"x": None}) is True


@pytest.mark.parametrize(("left", "right"), [(1, "A"), ([], [1]), ({}, 1), (2023, "2024-01-01")])
def test_loose_equality_with_nan_operands_raises(left: Any, right: Any) -> None:
    with pytest.raises(NaNError):
        loose_eq(left, right)


@pytest.mark.parametrize(
    ("left", "right", "lt", "le"),
    [
        (1, 2, True, True),
        ("a", "b", True, True),
        ("10", "9", True, True),
        ("10", 9, False, False),
        (None, 1, True, True),
        (None, 0, False, True),
        (None, "A", False, False),
        (False, True, True, True),
        (Decimal("1.5"), 2, True, True),
    ],
)
def test_relational_comparisons(left: Any, right: Any, lt: bool, le: bool) -> None:
    assert loose_lt(left, right) is lt
    assert loose_le(left, right) is le


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (1, 1.0, True),
        (1, True, False),
        ("1", 1, False),
        (None, None, True),
        ([1, [2, {"a": True}]], [1, [2, {"a": True}]], True),
        ([1, [2, {"a": True}]], [1, [2, {"a": 1}]], False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ((1, 2), [1, 2], True),
    ],
)
def test_strict_equality(left: Any, right: Any, expected: bool) -> None:
    assert strict_eq(left, right) is expected


def test_strict_equality_terminates_on_cycles() -> None:
    one: list[Any] = [1]
    one.append(one)
    other: list[Any] = [1]
    other.append(other)
    assert strict_eq(one, other) is True


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        (True, "boolean"),
        (Level.LOW, "number"),
        ("s", "string"),
        ((1,), "array"),
        ({}, "object"),
    ],
)
def test_json_kind_accepts_python_stand_ins(value: Any, kind: str) -> None:
    assert json_kind(value) == kind


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", object(), 1j])
def test_json_kind_rejects_non_json(value: Any) -> None:
    with pytest.raises(InvalidDataError):
        json_kind(value)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"+": ["1", 2]}, 3),
        ({"+": 2**53}, 2**53),
        ({"*": [2**40, 2**40]}, float(2**80)),
        ({"-": [2]}, -2),
        ({"/": [7, 2]}, 3.5),
        ({"/": [6, 3]}, 2),
        ({"%": [-7, 3]}, -1),
        ({"%": [7, -3]}, 1),
        ({"%": [7.5, 2]}, 1.5),
        ({"cat": [1.0, "-", 0.5, "-", None, "-", [1, [2]], "-", False]}, "1-0.5--1,2-false"),
        ({"substr": ["jsonlogic", -5, -2]}, "log"),
        ({"substr": [12345, 1, 2]}, "23"),
        ({"in": [1, [True, 1.0]]}, True),
        ({"in": [True, [1]]}, False),
        ({"in": [1, "a1b"]}, True),
        ({"in": ["a", None]}, False),
        ({"merge": [[1], 2, [[3]]]}, [1, 2, [3]]),
        ({"length": "héllo"}, 5),
    ],
)
def test_operator_coercions(rule: Any, expected: Any) -> None:
    result = apply(rule)
    assert result == expected
    assert type(result) is type(expected)
