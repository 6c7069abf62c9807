"""A key never shows: not in an error (message, repr, traceback, chained exceptions), not in a log line
at any level of any logger, not in the metrics, when the provider's 401 quotes the key back (OpenAI's
does) — through chat, stream and their async twins."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from automate.errors import LlmKeyMissing
from automate_llm import achat, astream, chat, stream
from tests.integration.llm_peers import LlmPeer, anthropic_server, openai_server

pytestmark = pytest.mark.integration

KEY = "sk-proj-LEAKCHECK-9f8e7d6c5b4a3210"


def _everything_about(error: BaseException) -> str:
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:  # whatever a tool walking the chain would find
        texts.append(repr(seen) + str(getattr(seen, "__dict__", "")))
        seen = seen.__cause__ or seen.__context__
    return "\n".join(texts)


def _calls(options: dict[str, Any]) -> Iterator[Callable[[], Any]]:
    messages = [{"role": "user", "content": "Hi"}]

    async def collect() -> list[str]:
        return [piece async for piece in astream(messages, **options)]

    yield lambda: chat(messages, **options)
    yield lambda: list(stream(messages, **options))
    yield lambda: asyncio.run(achat(messages, **options))
    yield lambda: asyncio.run(collect())


@pytest.mark.parametrize(("server", "base"), [(openai_server, "/v1"), (anthropic_server, "")])
def test_a_refused_key_quoted_back_by_the_provider_appears_nowhere(
        server: Callable[[], AbstractContextManager[LlmPeer]], base: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with server() as peer:
        provider = "openai" if base else "anthropic"
        options = {"provider": provider, "api_key": KEY, "base_url": peer.url + base, "max_retries": 0}
        for call in _calls(options):
            with pytest.raises(LlmKeyMissing) as failed:
                call()
            assert KEY not in _everything_about(failed.value)
            assert "HTTP 401" in failed.value.message
        assert len(peer.http.requests) == 4
        # the SDK's own exception quotes the key: the checks here are not vacuous
        assert KEY in _sdk_message(provider, peer.url + base)
    assert KEY not in caplog.text
    assert all(KEY not in str(record.__dict__) for record in caplog.records)
    assert KEY not in generate_latest(REGISTRY).decode()


def _sdk_message(provider: str, url: str) -> str:
    messages = [{"role": "user", "content": "Hi"}]
    if provider == "openai":
        import openai

        with pytest.raises(openai.AuthenticationError) as raw:
            openai.OpenAI(api_key=KEY, base_url=url, max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        return str(raw.value)
    import anthropic

    with pytest.raises(anthropic.AuthenticationError) as failed:
        anthropic.Anthropic(api_key=KEY, base_url=url, max_retries=0).messages.create(
            model="claude-3-5-haiku-latest", max_tokens=10, messages=messages)  # type: ignore[arg-type]
    return str(failed.value)


@pytest.mark.parametrize("key", ["sk-proj-LEAKCHECK-caf\u00e9-9f8e7d6c", "sk-proj-LEAKCHECK\r\nX-Evil: 1",
                                 "sk-proj-LEAKCHECK\x7f9f8e7d6c", "sk-proj LEAKCHECK 9f8e7d6c"])
def test_a_key_that_cannot_go_in_a_header_appears_nowhere(key: str, caplog: pytest.LogCaptureFixture) -> None:
    # httpx would refuse it with an error quoting the header ('Bearer sk-...') in its args
    caplog.set_level(logging.DEBUG)
    with openai_server() as peer:
        options = {"api_key": key, "base_url": peer.url + "/v1", "max_retries": 0}
        for call in _calls(options):
            with pytest.raises(LlmKeyMissing, match="not a usable key") as failed:
                call()
            assert "LEAKCHECK" not in _everything_about(failed.value) + repr(failed.value.args)
        assert peer.http.requests == []
    assert "LEAKCHECK" not in caplog.text
