"""The llm connector as the registry finds it (entry point ``automate.connectors``): its action's input
and output schemas, the fields a workflow must write out, where secrets may go."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from automate.errors import ConnectorError
from automate_connectors.registry import registry
from automate_connectors.schemas import validate_against
from automate_llm.connector import LlmConnector

GOOD = {"messages": [{"role": "user", "content": "Hi {{ execution.context.name }}"}], "model": "gpt-4o",
        "schema": {"type": "object"}, "cache": True, "temperature": 0.2, "stop": ["END"]}


def test_the_registry_loads_it_by_entry_point() -> None:
    assert registry.get_connector("llm") is LlmConnector
    connector, spec = registry.find_action("llm.chat") or (None, None)
    assert connector is LlmConnector and spec is not None
    assert spec.static_fields == ("provider", "model")
    assert not LlmConnector.requires_connection()
    assert LlmConnector.config_schema["properties"]["api_key"]["x-secret"] is True


def test_its_schemas_are_valid_and_strict() -> None:
    (spec,) = LlmConnector.actions()
    Draft202012Validator.check_schema(spec.input_schema)
    Draft202012Validator.check_schema(spec.output_schema)
    validate_against(spec.input_schema, GOOD, what="llm.chat input", code="input.invalid")
    output = {"text": "{}", "json": {}, "model": "m", "usage": {"input_tokens": 1, "output_tokens": 1},
              "cost_usd": 0.0, "cached": False}
    Draft202012Validator(spec.output_schema).validate(output)


@pytest.mark.parametrize("bad", [
    {"messages": []}, {"messages": [{"role": "tool", "content": "x"}]}, {**GOOD, "api_key": "sk-1"},
    {**GOOD, "provider": "watson"}, {**GOOD, "temperature": 5}, {**GOOD, "max_tokens": 0},
    {"model": "gpt-4o"}, {**GOOD, "messages": [{"role": "user", "content": "x", "extra": 1}]},
])
def test_bad_input_is_refused_before_the_call(bad: dict[str, Any]) -> None:
    (spec,) = LlmConnector.actions()
    with pytest.raises(ConnectorError):
        validate_against(spec.input_schema, bad, what="llm.chat input", code="input.invalid")
