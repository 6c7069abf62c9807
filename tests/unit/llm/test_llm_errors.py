"""One translation of providers' answers into the error tree, the retry policy, and structured output."""

from __future__ import annotations

import pytest

from automate.errors import (
    LlmContextExceeded,
    LlmKeyMissing,
    LlmOutputInvalid,
    LlmRequestRefused,
    LlmUnavailable,
    UnknownModel,
    UnknownProvider,
)
from automate_llm import get_provider
from automate_llm.providers.base import error_kind, retry_after_of, status_error
from automate_llm.retry import RetryPolicy, run
from automate_llm.structured import parse_output


@pytest.mark.parametrize(("status", "body", "error"), [
    (401, None, LlmKeyMissing), (403, None, LlmKeyMissing), (404, None, UnknownModel),
    (400, {"error": {"code": "context_length_exceeded"}}, LlmContextExceeded),
    (400, {"error": {"message": "prompt is too long: 250000 tokens > 200000 maximum"}}, LlmContextExceeded),
    (400, {"error": {"code": "invalid_value"}}, LlmRequestRefused), (422, None, LlmRequestRefused),
    (429, None, LlmUnavailable), (500, None, LlmUnavailable), (529, None, LlmUnavailable),
])
def test_status_errors(status: int, body: object, error: type[Exception]) -> None:
    made = status_error("openai", "gpt-4o", status, kind=error_kind(body), body=body, retry_after=2.0)
    assert type(made) is error
    assert "gpt-4o" in made.message and str(status) in made.message
    assert "prompt is too long" not in made.message  # the provider's words are never quoted
    assert made.retryable is (error is LlmUnavailable)


def test_error_kinds_are_plain_tokens_only() -> None:
    assert error_kind({"error": {"code": "invalid_api_key", "message": "sk-123"}}) == "invalid_api_key"
    assert error_kind({"type": "error", "error": {"type": "authentication_error"}}) == "authentication_error"
    assert error_kind({"error": {"code": "key sk-123 is wrong"}}) is None
    assert error_kind("not json") is None


def test_retry_after_headers() -> None:
    assert retry_after_of({"Retry-After": "3"}) == 3.0
    assert retry_after_of({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_of({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_of({"retry-after": "soon"}) is None
    assert retry_after_of({}) is None


def test_the_policy_waits_as_the_server_says_then_gives_up() -> None:
    waits: list[float] = []
    failures = iter([LlmUnavailable("busy", retry_after=1.5), LlmUnavailable("busy")])

    def call() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "ok"

    assert run(call, RetryPolicy(max_retries=3), sleep=waits.append) == "ok"
    assert waits[0] == 1.5 and 0.5 <= waits[1] <= 1.0  # the second retry: 1 s, jittered down to half
    with pytest.raises(LlmUnavailable):
        run(lambda: (_ for _ in ()).throw(LlmUnavailable("down")), RetryPolicy(max_retries=2),
            sleep=waits.append)
    assert len(waits) == 4
    # a retry-after longer than the policy waits in-process goes back to the caller at once
    assert RetryPolicy(max_wait=60).delay(1, LlmUnavailable("busy", retry_after=300)) is None


def test_structured_output_is_parsed_and_validated() -> None:
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    assert parse_output('{"city": "Paris"}', schema, provider="openai", model="m") == {"city": "Paris"}
    assert parse_output('```json\n{"city": "Paris"}\n```', schema, provider="openai", model="m") == {
        "city": "Paris"}
    with pytest.raises(LlmOutputInvalid, match="other than JSON"):
        parse_output("Paris", schema, provider="openai", model="m")
    with pytest.raises(LlmOutputInvalid, match=r"at /city \(rule type\)"):
        parse_output('{"city": 7}', schema, provider="openai", model="m")


def test_unknown_provider() -> None:
    with pytest.raises(UnknownProvider, match="use one of anthropic, bedrock, openai"):
        get_provider("watson")
