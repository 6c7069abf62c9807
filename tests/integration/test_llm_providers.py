"""Each provider's contract through its real SDK against a local server speaking its wire protocol:
OpenAI's Chat Completions (openai), Anthropic's Messages (anthropic), Bedrock's Converse (boto3).
Answers, system prompts, structured output, streams (sync and async), retries honoring retry-after, and
every failure as its typed error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from automate.config import Settings
from automate.errors import (
    LlmContextExceeded,
    LlmKeyMissing,
    LlmOutputInvalid,
    LlmRequestRefused,
    LlmUnavailable,
    UnknownModel,
)
from automate_llm import achat, acomplete, astream, chat, complete, get_provider, stream
from tests.integration.llm_peers import (
    LlmPeer,
    anthropic_server,
    bedrock_server,
    openai_server,
    stalling_bedrock_server,
)

pytestmark = pytest.mark.integration

SCHEMA = {"type": "object", "required": ["city", "country"], "additionalProperties": False,
          "properties": {"city": {"type": "string"}, "country": {"type": "string"}}}
QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}]


@dataclass
class Served:
    name: str
    peer: LlmPeer
    options: dict[str, Any]

    def requests_for(self, model: str) -> int:
        return self.peer.seen[model]


@pytest.fixture(params=["openai", "anthropic", "bedrock"])
def served(request: pytest.FixtureRequest, settings: Settings,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    name = request.param
    if name == "openai":
        with openai_server() as peer:
            yield Served(name, peer, {"provider": "openai", "api_key": peer.key, "base_url": peer.url + "/v1",
                                      "settings": settings})
    elif name == "anthropic":
        with anthropic_server() as peer:
            yield Served(name, peer, {"provider": "anthropic", "api_key": peer.key, "base_url": peer.url,
                                      "settings": settings})
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALLMTESTKEY")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        with bedrock_server() as peer:
            yield Served(name, peer, {"provider": "bedrock", "region": "us-east-1", "endpoint_url": peer.url,
                                      "settings": settings})


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_chat_sends_the_system_prompt_the_provider_s_way(served: Served) -> None:
    assert chat(QUESTION, **served.options) == "The capital of France is Paris."
    (body,) = served.peer.bodies()
    if served.name == "openai":
        assert body["messages"] == QUESTION
    elif served.name == "anthropic":
        assert body["system"] == "You are a helpful assistant."
        assert body["messages"] == [QUESTION[1]] and body["max_tokens"] == 1024
    else:
        assert body["system"] == [{"text": "You are a helpful assistant."}]
        assert body["messages"] == [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]


def test_options_reach_the_provider(served: Served) -> None:
    complete(messages=[{"role": "user", "content": "Write a haiku."}], model="some-model", temperature=0.9,
             max_tokens=100, top_p=0.5, stop=["END"], **served.options)
    (body,) = served.peer.bodies()
    if served.name == "openai":
        assert (body["model"], body["temperature"], body["max_tokens"], body["top_p"], body["stop"]) == (
            "some-model", 0.9, 100, 0.5, ["END"])
    elif served.name == "anthropic":
        assert (body["model"], body["max_tokens"], body["stop_sequences"]) == ("some-model", 100, ["END"])
        assert "temperature" not in body  # the Messages API (SDK 2.x) takes no sampling parameters
    else:
        assert body["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.9, "topP": 0.5,
                                           "stopSequences": ["END"]}


def test_structured_output_is_asked_for_and_validated(served: Served) -> None:
    result = complete(QUESTION, schema=SCHEMA, **served.options)
    assert result.json == {"city": "Paris", "country": "France"} and json.loads(result.text) == result.json
    assert result.input_tokens > 0 and result.output_tokens == 4  # the peers count words
    (body,) = served.peer.bodies()
    if served.name == "openai":
        assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    elif served.name == "anthropic":
        assert body["tools"][0]["input_schema"] == SCHEMA
        assert body["tool_choice"] == {"type": "tool", "name": "structured_output"}
    else:
        assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": SCHEMA}


def test_an_answer_that_violates_the_schema_is_refused(served: Served) -> None:
    served.peer.json_answer = '{"city": 75, "country": "France"}'
    with pytest.raises(LlmOutputInvalid, match="/city"):
        complete(QUESTION, schema=SCHEMA, **served.options)


def test_an_answer_that_is_not_json_is_refused() -> None:
    with openai_server() as peer:
        peer.json_answer = "Paris, I think."  # a compatible server that ignores response_format
        with pytest.raises(LlmOutputInvalid, match="other than JSON"):
            complete(QUESTION, schema=SCHEMA, api_key=peer.key, base_url=peer.url + "/v1")


def test_streams_yield_the_answer_in_pieces(served: Served) -> None:
    model = f"stream-{served.name}"  # not a known model: labelled "other"
    before = _sample("automate_llm_tokens_total", provider=served.name, model="other", kind="output")
    pieces = list(stream(QUESTION, model=model, **served.options))
    assert len(pieces) == 6 and "".join(pieces) == "The capital of France is Paris."

    async def collect() -> list[str]:
        return [piece async for piece in astream(QUESTION, model=model, **served.options)]

    assert "".join(asyncio.run(collect())) == "The capital of France is Paris."
    # the usage the stream reported at its end is counted (6 words: the peers' token count)
    after = _sample("automate_llm_tokens_total", provider=served.name, model="other", kind="output")
    assert after == before + 12
    assert served.peer.bodies()[0].get("stream", True)


def test_async_twins(served: Served) -> None:
    assert asyncio.run(achat(QUESTION, **served.options)) == "The capital of France is Paris."
    assert asyncio.run(acomplete(QUESTION, schema=SCHEMA, **served.options)).json["city"] == "Paris"


def test_429_is_retried_after_the_server_s_retry_after(served: Served) -> None:
    assert chat(QUESTION, model="busy-once", **served.options) == "The capital of France is Paris."
    assert served.requests_for("busy-once") == 2
    # a stream's own model name: its first request really gets the 429
    pieces = list(stream(QUESTION, model="busy-once-stream", **served.options))
    assert "".join(pieces) == "The capital of France is Paris."
    assert served.requests_for("busy-once-stream") == 2

    async def collect() -> list[str]:
        return [piece async for piece in astream(QUESTION, model="busy-once-astream", **served.options)]

    assert "".join(asyncio.run(collect())) == "The capital of France is Paris."
    assert served.requests_for("busy-once-astream") == 2


def test_the_server_s_retry_after_is_handed_on_when_no_retry_is_left(served: Served) -> None:
    with pytest.raises(LlmUnavailable) as failed:
        chat(QUESTION, model="busy-long", max_retries=0, **served.options)
    assert failed.value.retryable and failed.value.retry_after == 7
    with pytest.raises(LlmUnavailable) as streamed:
        list(stream(QUESTION, model="busy-long", max_retries=0, **served.options))
    assert streamed.value.retry_after == 7 and served.requests_for("busy-long") == 2


def test_5xx_through_every_retry_is_unavailable_and_retryable(served: Served) -> None:
    before = _sample("automate_llm_requests_total", provider=served.name, model="other",
                     outcome="llm.unavailable")
    with pytest.raises(LlmUnavailable) as failed:
        chat(QUESTION, model="down", max_retries=2, **served.options)
    assert failed.value.retryable and served.requests_for("down") == 3
    assert _sample("automate_llm_requests_total", provider=served.name, model="other",
                   outcome="llm.unavailable") == before + 1


@pytest.mark.parametrize(("model", "error"), [("missing-model", UnknownModel),
                                              ("tiny-context", LlmContextExceeded),
                                              ("bad-request", LlmRequestRefused)])
def test_refusals_are_typed_and_not_retried(served: Served, model: str, error: type[Exception]) -> None:
    with pytest.raises(error) as failed:
        chat(QUESTION, model=model, **served.options)
    assert served.requests_for(model) == 1
    assert "maximum context length" not in str(failed.value)  # the provider's words stay out


def test_no_key_anywhere_is_key_missing_without_a_call(served: Served,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                     "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    options = {k: v for k, v in served.options.items() if k != "api_key"}
    with pytest.raises(LlmKeyMissing):
        chat(QUESTION, **options)
    assert served.peer.http.requests == []


def test_a_server_that_does_not_answer_in_time_is_unavailable(served: Served) -> None:
    with pytest.raises(LlmUnavailable, match="did not answer") as failed:
        chat(QUESTION, model="slow", timeout=0.3, max_retries=0, **served.options)
    assert failed.value.retryable and served.requests_for("slow") == 1


def test_a_prompt_over_a_known_context_window_is_refused_without_a_call() -> None:
    with openai_server() as peer:
        long_prompt = [{"role": "user", "content": "word " * 12000}]
        with pytest.raises(LlmContextExceeded, match="8192-token context of model gpt-4"):
            chat(long_prompt, model="gpt-4", api_key=peer.key, base_url=peer.url + "/v1")
        with pytest.raises(LlmContextExceeded):
            chat([{"role": "user", "content": "Hi"}], model="gpt-4", max_tokens=9000, api_key=peer.key,
                 base_url=peer.url + "/v1")
        assert peer.http.requests == []


def test_get_provider_binds_the_provider_and_its_defaults(served: Served) -> None:
    options = {k: v for k, v in served.options.items() if k != "provider"}
    provider = get_provider(served.name, **options)
    assert provider.chat([{"role": "user", "content": "Hello!"}]) == "The capital of France is Paris."
    assert asyncio.run(provider.achat([{"role": "user", "content": "Hello!"}])).endswith("Paris.")


def test_max_tokens_goes_as_openai_s_reasoning_models_want_it() -> None:
    with openai_server() as peer:
        for model in ("o3-mini", "gpt-4o"):
            chat(QUESTION, model=model, max_tokens=50, api_key=peer.key, base_url=peer.url + "/v1")
        reasoning, classic = peer.bodies()
    assert reasoning["max_completion_tokens"] == 50 and "max_tokens" not in reasoning
    assert classic["max_tokens"] == 50 and "max_completion_tokens" not in classic


def test_a_model_outside_the_price_table_is_labelled_other(settings: Settings) -> None:
    name = "made-up-model-9f3c"
    before = _sample("automate_llm_requests_total", provider="openai", model="other", outcome="ok")
    with openai_server() as peer:
        complete(QUESTION, model=name, api_key=peer.key, base_url=peer.url + "/v1", settings=settings)
        with pytest.raises(UnknownModel):
            complete(QUESTION, model="missing-model", api_key=peer.key, base_url=peer.url + "/v1",
                     settings=settings)
        priced = Settings(**{**settings.model_dump(), "llm_prices": {name: (1.0, 2.0)}})
        complete(QUESTION, model=name, api_key=peer.key, base_url=peer.url + "/v1", settings=priced)
    other = _sample("automate_llm_requests_total", provider="openai", model="other", outcome="ok")
    assert other == before + 1
    assert _sample("automate_llm_requests_total", provider="openai", model=name, outcome="ok") == 1
    exposed = generate_latest(REGISTRY).decode()
    assert 'model="missing-model"' not in exposed
    # a dated name is counted under its family
    with openai_server() as peer:
        before = _sample("automate_llm_requests_total", provider="openai", model="gpt-4o", outcome="ok")
        complete(QUESTION, model="gpt-4o-2099-01-01", api_key=peer.key, base_url=peer.url + "/v1",
                 settings=settings)
    family = _sample("automate_llm_requests_total", provider="openai", model="gpt-4o", outcome="ok")
    assert family == before + 1
    assert "gpt-4o-2099-01-01" not in generate_latest(REGISTRY).decode()


def test_metrics_count_tokens_cost_and_outcomes(settings: Settings) -> None:
    labels = {"provider": "openai", "model": "gpt-4o"}
    before = {name: _sample(name, **labels, **extra) for name, extra in (
        ("automate_llm_tokens_total", {"kind": "input"}), ("automate_llm_cost_usd_total", {}),
        ("automate_llm_requests_total", {"outcome": "ok"}), ("automate_llm_request_seconds_count", {}))}
    with openai_server() as peer:
        result = complete(QUESTION, model="gpt-4o", api_key=peer.key, base_url=peer.url + "/v1")
    assert (result.input_tokens, result.output_tokens) == (19, 6)
    assert result.cost_usd == pytest.approx((19 * 2.5 + 6 * 10.0) / 1e6)
    assert _sample("automate_llm_tokens_total", **labels, kind="input") == (
        before["automate_llm_tokens_total"] + 19)
    assert _sample("automate_llm_cost_usd_total", **labels) == pytest.approx(
        before["automate_llm_cost_usd_total"] + result.cost_usd)
    assert _sample("automate_llm_requests_total", **labels, outcome="ok") == (
        before["automate_llm_requests_total"] + 1)
    assert _sample("automate_llm_request_seconds_count", **labels) == (
        before["automate_llm_request_seconds_count"] + 1)


def _client_sockets_to(url: str) -> int:
    """This process's open TCP sockets whose remote end is ``url``'s port (Linux's /proc)."""
    import os
    from urllib.parse import urlsplit

    port = urlsplit(url).port
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            with open(table) as lines:
                for line in list(lines)[1:]:
                    fields = line.split()
                    if int(fields[2].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target.startswith("socket:[") and target[8:-1] in inodes
    return count


def test_a_bedrock_stream_left_early_closes_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALLMTESTKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
    with stalling_bedrock_server() as url:
        for piece in stream(QUESTION, provider="bedrock", region="us-east-1", endpoint_url=url):
            assert piece == "The "
            assert _client_sockets_to(url) == 1  # the stream is open and still sending
            break
        assert _client_sockets_to(url) == 0


@pytest.mark.parametrize("region", [None, "us-east-1"])
def test_a_wrong_aws_configuration_is_refused_not_retried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          region: str | None) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with bedrock_server() as peer:
        with pytest.raises(LlmRequestRefused, match="AWS configuration is wrong") as failed:
            chat(QUESTION, provider="bedrock", region=region, endpoint_url=peer.url)
        assert not failed.value.retryable and peer.http.requests == []
