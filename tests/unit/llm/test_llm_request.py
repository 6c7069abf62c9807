"""Checking a chat call's messages and parameters at the boundary, and the canonical form the cache
key is made of."""

from __future__ import annotations

from typing import Any

import pytest

from automate.errors import LlmOutputInvalid, UsageError
from automate_llm.cache import cache_key
from automate_llm.request import ChatRequest, Message, parse_messages, parse_parameters, parse_schema
from automate_llm.structured import parse_output


def test_messages_are_checked_and_frozen() -> None:
    parsed = parse_messages([{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": [{"type": "text", "text": "Hi "},
                                                          {"type": "text", "text": "there"}]}])
    assert parsed == (Message(role="system", content="Be brief."), Message(role="user", content="Hi there"))


@pytest.mark.parametrize("messages", [
    [], "hello", [{"role": "robot", "content": "x"}], [{"role": "user"}], [{"role": "user", "content": 3}],
    [{"role": "system", "content": "only a system prompt"}], [{"role": "user", "content": "x", "tools": []}],
    [{"role": "user", "content": "x"}] * 1001, [{"role": "user", "content": "x" * 2_000_001}],
])
def test_bad_messages_are_usage_errors(messages: Any) -> None:
    with pytest.raises(UsageError):
        parse_messages(messages)


def test_parameters_have_ranges() -> None:
    assert parse_parameters(temperature=0.9, max_tokens=100, top_p=None, stop="END") == (0.9, 100, None,
                                                                                          ("END",))
    for bad in ({"temperature": 3}, {"temperature": True}, {"max_tokens": 0}, {"max_tokens": 1.5},
                {"top_p": 2}, {"stop": []}, {"stop": ["a"] * 5}, {"stop": [""]}):
        options: dict[str, Any] = {"temperature": None, "max_tokens": None, "top_p": None, "stop": None,
                                   **bad}
        with pytest.raises(UsageError):
            parse_parameters(**options)


def test_schema_must_be_a_valid_json_schema() -> None:
    assert parse_schema({"type": "object"}) == {"type": "object"}
    assert parse_schema(None) is None
    with pytest.raises(UsageError, match="not a valid JSON schema"):
        parse_schema({"type": "banana"})
    with pytest.raises(UsageError):
        parse_schema({"description": "x" * 70_000})


def _request(**changes: Any) -> ChatRequest:
    fields: dict[str, Any] = {"provider": "openai", "model": "gpt-4o-mini",
                              "messages": (Message(role="user", content="Hi"),), "temperature": 0.5}
    return ChatRequest(**{**fields, **changes})


def test_the_cache_key_follows_the_request_and_where_it_goes() -> None:
    key = cache_key(_request(), destination="http://a")
    assert key == cache_key(_request(), destination="http://a") and len(key) == 64
    assert key != cache_key(_request(temperature=0.6), destination="http://a")
    assert key != cache_key(_request(model="gpt-4o"), destination="http://a")
    assert key != cache_key(_request(schema={"type": "object"}), destination="http://a")
    assert key != cache_key(_request(), destination="http://b")


def test_system_messages_are_set_apart_for_providers_that_want_them() -> None:
    request = _request(messages=(Message(role="system", content="A"), Message(role="user", content="Q"),
                                 Message(role="system", content="B")))
    assert request.system == "A\n\nB"
    assert [m.content for m in request.turns] == ["Q"]


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def test_a_schema_is_bounded_before_anything_recursive_reads_it() -> None:
    assert parse_schema(_nested(30)) is not None
    for deep in (_nested(40), _nested(5000)):  # 5000: json.dumps and jsonschema would hit RecursionError
        with pytest.raises(UsageError, match="deeper than"):
            parse_schema(deep)
    raw: Any = []
    for _ in range(5000):
        raw = [raw]
    with pytest.raises(UsageError, match="deeper than"):
        parse_schema({"enum": raw})


@pytest.mark.parametrize("ref", ["http://example.com/schema.json", "other.json#/x", "#/$defs/missing",
                                 "#/properties/a/type", "#anchor", 5])
def test_refs_must_be_local_and_resolve(ref: Any) -> None:
    with pytest.raises(UsageError, match=r"\$ref"):
        parse_schema({"type": "object", "properties": {"a": {"$ref": ref}}})


def test_local_refs_are_accepted() -> None:
    schema = {"$defs": {"city": {"type": "string"}, "a/b": {"type": "integer"}},
              "type": "object",
              "properties": {"city": {"$ref": "#/$defs/city"}, "n": {"$ref": "#/$defs/a~1b"},
                             "self": {"$ref": "#"}}}
    assert parse_schema(schema) == schema


@pytest.mark.parametrize("schema", [
    {"type": "string", "pattern": "^(a+)+$"},
    {"type": "object", "patternProperties": {"^(a+)+$": {"type": "string"}}},
    {"type": "object", "properties": {"x": {"items": {"pattern": "a"}}}},
    {"type": "object", "properties": {"x": {"$id": "http://example.com/x", "type": "string"}}},
])
def test_regular_expressions_and_nested_ids_are_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        parse_schema(schema)


def test_a_property_may_be_called_pattern() -> None:
    schema = {"type": "object", "properties": {"pattern": {"type": "string"}}}
    assert parse_schema(schema) == schema


def test_an_answer_too_deep_to_check_is_output_invalid() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(LlmOutputInvalid):
        parse_output(deep, {"type": "array"}, provider="openai", model="m")
    nested = "[" * 5_000 + "]" * 5_000  # parses; checking it against items recursion would not
    with pytest.raises(LlmOutputInvalid):
        parse_output(nested, {"type": "array", "items": {"$ref": "#"}}, provider="openai", model="m")


def test_a_message_name_is_refused_rather_than_dropped() -> None:
    with pytest.raises(UsageError, match="name"):
        parse_messages([{"role": "user", "content": "Hi", "name": "alice"}])
