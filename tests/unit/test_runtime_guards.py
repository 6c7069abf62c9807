"""The engine's checks of values it cannot trust: a wait's seconds, NUL characters, headers of retry
records (automate.runtime.guards, automate.step_tasks.read_retry_headers)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from automate.config import Settings
from automate.errors import RecordError, StepError
from automate.jsonb import unstorable, unstorable_text
from automate.runtime.guards import describe, read_context, wait_seconds
from automate.step_tasks import DUE_AT_HEADER, TARGET_HEADER, read_retry_headers
from automate.topics import is_workflow_topic


@pytest.mark.parametrize("seconds", [0, 1, 2.5, "3", "0.25"])
def test_a_wait_takes_finite_seconds_at_least_zero(seconds: object) -> None:
    assert wait_seconds({"seconds": seconds}) == float(seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", ["nan", "inf", "-inf", -1, "soon", "", None, True, [1], {}, "1e400"])
def test_a_wait_of_no_length_is_a_permanent_input_error(seconds: object) -> None:
    with pytest.raises(StepError) as raised:
        wait_seconds({"seconds": seconds})
    assert raised.value.code == "input.invalid" and raised.value.retryable is False


def test_nul_characters_are_found_in_values_keys_and_json_text() -> None:
    assert unstorable({"a": ["x", {"b\x00": 1}]}) and unstorable("\x00")
    assert unstorable({"a": "\\u0000"}) is None  # a backslash, then "u0000": storable
    assert unstorable_text(json.dumps({"a": "x\x00"})) and not unstorable_text(json.dumps({"a": "\\u0000"}))
    assert describe(ValueError("bad\x00byte"))["message"] == "bad\ufffdbyte"


@pytest.mark.parametrize("lone", ["\ud800", "\udfff", "a\udbffz"])
def test_lone_surrogates_are_found_in_values_keys_and_json_text_of_either_form(lone: str) -> None:
    assert unstorable({"k": [lone]}) and unstorable({lone: 1})
    assert unstorable_text(json.dumps({"k": lone})) == "holds a lone surrogate"  # as an escape
    assert unstorable_text(json.dumps({"k": lone}, ensure_ascii=False)) == "holds a lone surrogate"  # raw
    assert describe(ValueError(f"bad {lone}"))["message"].encode()  # the message is storable text


def test_surrogate_pairs_and_plain_text_are_storable() -> None:
    for value in ({"emoji": "\U0001F600"}, {"a": "plain"}, {"escaped": "\\ud800"}, {"n": 1}):
        assert unstorable(value) is None
        assert unstorable_text(json.dumps(value)) is None
        assert unstorable_text(json.dumps(value, ensure_ascii=False)) is None


class _Msg:
    def __init__(self, headers: list[tuple[str, Any]] | None, topic: str = "tp.retry.1h") -> None:
        self._headers = headers
        self._topic = topic

    def topic(self) -> str:
        return self._topic

    def headers(self) -> list[tuple[str, Any]] | None:
        return self._headers


SETTINGS = Settings(topic_prefix="tp")


@pytest.mark.parametrize(("headers", "code"), [
    (None, "retry.header_missing"),
    ([(DUE_AT_HEADER, b"1")], "retry.header_missing"),
    ([(DUE_AT_HEADER, b"x"), (TARGET_HEADER, b"tp.workflow.a")], "retry.due_at_invalid"),
    ([(DUE_AT_HEADER, b"1" * 16), (TARGET_HEADER, b"tp.workflow.a")], "retry.due_at_invalid"),
    ([(DUE_AT_HEADER, b"\xff"), (TARGET_HEADER, b"tp.workflow.a")], "retry.headers_undecodable"),
    ([(DUE_AT_HEADER, b"1"), (TARGET_HEADER, b"other.workflow.a")], "retry.target_forbidden"),
    ([(DUE_AT_HEADER, b"1"), (TARGET_HEADER, b"tp.events")], "retry.target_forbidden"),
])
def test_retry_headers_that_cannot_be_trusted_are_typed(headers: Any, code: str) -> None:
    with pytest.raises(RecordError) as raised:
        read_retry_headers(SETTINGS, _Msg(headers))
    assert raised.value.code == code


def test_retry_headers_give_the_due_time_and_an_own_workflow_topic() -> None:
    headers = [(DUE_AT_HEADER, b"1500"), (TARGET_HEADER, b"tp.workflow.order-flow")]
    assert read_retry_headers(SETTINGS, _Msg(headers)) == (1.5, "tp.workflow.order-flow")
    assert is_workflow_topic(SETTINGS, "tp.workflow.a-1")
    assert not is_workflow_topic(SETTINGS, "tp.workflow.")
    assert not is_workflow_topic(SETTINGS, "tp.workflow.A")


def test_a_due_time_beyond_a_short_tier_is_refused_but_not_on_the_longest() -> None:
    far = str(int((time.time() + 7200) * 1000)).encode()
    headers = [(DUE_AT_HEADER, far), (TARGET_HEADER, b"tp.workflow.a")]
    with pytest.raises(RecordError) as raised:
        read_retry_headers(SETTINGS, _Msg(headers, "tp.retry.1s"))
    assert raised.value.code == "retry.due_at_invalid"
    assert read_retry_headers(SETTINGS, _Msg(headers, "tp.retry.1h"))[1] == "tp.workflow.a"


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": [Infinity]}', '{"a": {"b": -Infinity}}',
                                  '{"a": 1e400}'])
def test_numbers_that_are_not_finite_are_not_storable(text: str) -> None:
    context, problem = read_context(text)
    assert context == {} and problem is not None and "not finite" in problem
    assert unstorable(json.loads(text)) is not None
    if "e400" not in text:  # 1e400 is storable text; only once read does it become an infinity
        assert unstorable_text(text) is not None
    assert unstorable_text('{"a": "NaN or Infinity, as text"}') is None
