"""The filter syntax: what it accepts, what it refuses, and the SQL LanceDB receives (never user text
unquoted)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automate.errors import RagFilterInvalid
from rag.filters import MAX_DEPTH, check_filter, filter_fields, labels_of, labels_only, to_lancedb_sql


def sql(filters: dict[str, Any]) -> str:
    checked = check_filter(filters)
    assert checked is not None
    return to_lancedb_sql(checked)


def test_equality_shorthand_matches_strings_and_lists() -> None:
    assert sql({"category": "authentication"}) == (
        "(json_get_string(fmeta, 's_category') = 'authentication' OR "
        "json_array_contains(fmeta, '$.l_category', 'authentication'))")


def test_typed_equality_and_comparisons() -> None:
    assert sql({"ok": True}) == "json_get_bool(fmeta, 'b_ok') = true"
    assert sql({"year": {"$eq": 2020}}) == "json_get_float(fmeta, 'n_year') = 2020.0"
    assert sql({"year": {"$gte": 2020, "$lt": 2024.5}}) == (
        "(json_get_float(fmeta, 'n_year') >= 2020.0 AND json_get_float(fmeta, 'n_year') < 2024.5)")


def test_negations_match_documents_without_the_key() -> None:
    assert sql({"ok": {"$ne": False}}) == "coalesce(json_get_bool(fmeta, 'b_ok') = false, false) = false"
    assert sql({"tag": {"$exists": False}}) == (
        "coalesce(json_array_contains(fmeta, '$.present', 'tag'), false) = false")
    assert "coalesce((" in sql({"n": {"$nin": [1, 2]}})


def test_and_or_nest() -> None:
    text = sql({"$or": [{"a": "x"}, {"$and": [{"b": {"$in": [1, "y"]}}, {"c": {"$exists": True}}]}]})
    assert text.startswith("((json_get_string(fmeta, 's_a') = 'x'")
    assert "json_get_float(fmeta, 'n_b') = 1.0 OR (json_get_string(fmeta, 's_b') = 'y'" in text
    assert text.count("(") == text.count(")")


@pytest.mark.parametrize("value", [
    "x' OR '1'='1",
    "'; DROP TABLE chunks; --",
    "\\' OR true OR '",
    "it's",
])
def test_string_values_stay_inside_their_literal(value: str) -> None:
    text = sql({"category": value})
    literal = "'" + value.replace("'", "''") + "'"
    in_list = "'" + json.dumps(value, ensure_ascii=False)[1:-1].replace("'", "''") + "'"  # as JSON text
    assert text == (f"(json_get_string(fmeta, 's_category') = {literal} OR "
                    f"json_array_contains(fmeta, '$.l_category', {in_list}))")


@pytest.mark.parametrize("key", ["a'b", "a) OR (1=1", "$.x", "x.y", "1abc", "", "a" * 65, "_doc", "a b",
                                 "a\n"])
def test_keys_outside_the_shape_are_refused(key: str) -> None:
    with pytest.raises(RagFilterInvalid):
        check_filter({key: "x"})


@pytest.mark.parametrize("filters", [
    {"a": {"$regex": "x"}},
    {"a": {"$gt": "b"}},
    {"a": {"$gt": True}},
    {"a": {"$in": "x"}},
    {"a": {"$in": []}},
    {"a": {"$exists": 1}},
    {"a": {}},
    {"a": None},
    {"a": float("nan")},
    {"a": {"$lte": float("inf")}},
    {"a": ["x", "y"]},
    {"a": {"nested": "x"}},
    {"$and": {"a": "x"}},
    {"$or": []},
    {"$not": {"a": "x"}},
    {"a": "x\x00"},
    {"a": "x" * 1001},
    ["a"],
    "category = 'x'",
])
def test_filters_outside_the_syntax_are_refused(filters: Any) -> None:
    with pytest.raises(RagFilterInvalid):
        check_filter(filters)


def test_depth_and_size_are_bounded() -> None:
    deep: dict[str, Any] = {"a": "x"}
    for _ in range(MAX_DEPTH):
        deep = {"$and": [deep]}
    with pytest.raises(RagFilterInvalid, match="nests"):
        check_filter(deep)
    with pytest.raises(RagFilterInvalid, match="at most"):
        check_filter({"a": {"$in": [str(i) for i in range(101)]}})


def test_no_filter() -> None:
    assert check_filter(None) is None
    assert check_filter({}) is None


def test_typed_fields_of_metadata() -> None:
    assert filter_fields({"category": "auth", "n": 3, "ok": False, "tags": ["a"]}) == {
        "present": ["category", "n", "ok", "tags"], "s_category": "auth", "n_n": 3.0, "b_ok": False,
        "l_tags": ["a"]}


@pytest.mark.parametrize("filters", [
    {"n": 10**400},
    {"n": -(10**400)},
    {"n": {"$gt": 10**400}},
    {"n": {"$lte": 2**53 + 1}},
    {"n": {"$in": [1, 10**400]}},
    {"n": {"$ne": -(2**53) - 1}},
])
def test_integers_beyond_2_53_are_refused_as_in_documents(filters: dict[str, Any]) -> None:
    with pytest.raises(RagFilterInvalid, match="2\\^53"):
        check_filter(filters)


def test_integers_up_to_2_53_are_accepted() -> None:
    assert check_filter({"n": {"$gte": -(2**53), "$lte": 2**53}}) == {"n": {"$gte": -(2**53), "$lte": 2**53}}


@pytest.mark.parametrize("filters", [{"a": "\ud800"}, {"a": {"$ne": "x\udfff"}},
                                     {"a": {"$in": ["ok", "\ud800"]}},
                                     {"$or": [{"a": "x"}, {"b": {"$eq": "\udc00"}}]}])
def test_lone_surrogates_are_refused(filters: dict[str, Any]) -> None:
    with pytest.raises(RagFilterInvalid, match="not valid Unicode"):
        check_filter(filters)


def labelled(filters: dict[str, Any]) -> str:
    checked = check_filter(filters)
    assert checked is not None
    return to_lancedb_sql(checked, labels=True)


def test_labels_of_metadata_are_typed_and_one_per_list_element() -> None:
    assert labels_of({"category": "auth", "n": 3, "x": -0.0, "ok": False, "tags": ["a", "b=c", "a"]}) == [
        "b:ok=false", "n:n=3.0", "n:x=0.0", "s:category=auth", "s:tags=a", "s:tags=b=c"]
    assert labels_of({}) == []


def test_labels_keep_types_apart() -> None:
    assert labels_of({"k": "1"}) != labels_of({"k": 1})
    assert labels_of({"k": True}) != labels_of({"k": 1})
    assert labels_of({"k": "true"}) != labels_of({"k": True})


def test_equality_and_in_read_the_labels() -> None:
    assert labelled({"category": "auth"}) == "array_has_any(labels, ['s:category=auth'])"
    assert labelled({"year": {"$eq": 2020}}) == "array_has_any(labels, ['n:year=2020.0'])"
    assert labelled({"a": "x", "ok": True}) == "array_has_all(labels, ['s:a=x', 'b:ok=true'])"
    assert labelled({"k": {"$in": ["x", 1, False]}}) == (
        "array_has_any(labels, ['s:k=x', 'n:k=1.0', 'b:k=false'])")
    assert labelled({"$or": [{"a": "x"}, {"b": {"$in": ["y", "z"]}}]}) == (
        "(array_has_any(labels, ['s:a=x']) OR array_has_any(labels, ['s:b=y', 's:b=z']))")


def test_ranges_negations_and_exists_stay_on_the_json_column() -> None:
    text = labelled({"a": "x", "year": {"$gte": 2020}, "b": {"$ne": "y"}, "c": {"$exists": True}})
    assert text.startswith("(array_has_any(labels, ['s:a=x']) AND json_get_float(fmeta, 'n_year') >= 2020.0")
    assert "coalesce((json_get_string(fmeta, 's_b') = 'y'" in text
    assert "json_array_contains(fmeta, '$.present', 'c')" in text
    assert "coalesce((" in labelled({"n": {"$nin": ["a", "b"]}})


def test_labels_only_tells_which_filters_the_labels_answer_alone() -> None:
    assert labels_only({"a": "x", "b": {"$in": [1, 2]}, "$or": [{"c": True}, {"d": {"$eq": "y"}}]})
    assert not labels_only({"a": "x", "n": {"$gt": 1}})
    assert not labels_only({"$and": [{"a": "x"}, {"b": {"$ne": "y"}}]})
    assert not labels_only({"a": {"$exists": True}})
    assert not labels_only({"a": {"$eq": "x", "$nin": ["y"]}})


@pytest.mark.parametrize("value", ["x' OR '1'='1", "'; DROP TABLE chunks; --", "\\' OR true OR '", "it's",
                                   "a'], ['b", "x=y"])
def test_label_values_stay_inside_their_literal(value: str) -> None:
    literal = "'" + ("s:category=" + value).replace("'", "''") + "'"
    assert labelled({"category": value}) == f"array_has_any(labels, [{literal}])"
    assert labelled({"category": {"$in": [value, "z"]}}) == (
        f"array_has_any(labels, [{literal}, 's:category=z'])")
