"""Checking a chat call's messages and parameters at the boundary, and the canonical form the cache
key is made of."""

from __future__ import annotations

from typing import Any

import pytest

from automate.errors import UsageError
from automate_llm.cache import cache_key
from automate_llm.request import ChatRequest, Message, parse_messages, parse_parameters, parse_schema


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
