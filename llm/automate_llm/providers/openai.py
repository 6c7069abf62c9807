"""``openai``: OpenAI's Chat Completions API through the ``openai`` SDK, and any server speaking it
(vLLM, Ollama, LM Studio, a proxy) through a base URL.

The key and base URL come from the call, the connection or the settings, else from the SDK's own
``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``. A schema is sent as ``response_format`` ``json_schema``
(non-strict, so any valid schema is accepted; the answer is validated here anyway). Streams ask for the
usage in the last chunk (``stream_options.include_usage``). ``max_tokens`` goes as ``max_tokens``, but as
``max_completion_tokens`` for OpenAI's reasoning models (``o1``, ``o3``..., ``gpt-5``), which refuse it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Generator, Iterator
from typing import Any, ClassVar

from automate.errors import LlmError, LlmKeyMissing, LlmRequestRefused
from automate_llm.providers.base import (
    Piece,
    Reply,
    Target,
    Usage,
    sdk_client_args,
    sdk_error,
)
from automate_llm.request import ChatRequest

__all__ = ["OpenAIBackend"]

_REASONING = re.compile(r"^(?:o\d|gpt-5)")


def _params(request: ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"model": request.model, "messages": [m.as_dict() for m in request.messages]}
    for name in ("temperature", "top_p"):
        if getattr(request, name) is not None:
            params[name] = getattr(request, name)
    if request.max_tokens is not None:
        # OpenAI's reasoning models refuse max_tokens; compatible servers know max_tokens best
        reasoning = _REASONING.match(request.model) is not None
        params["max_completion_tokens" if reasoning else "max_tokens"] = request.max_tokens
    if request.stop:
        params["stop"] = list(request.stop)
    if request.schema is not None:
        params["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "output", "schema": dict(request.schema), "strict": False}}
    return params


def _client_args(target: Target, *, asynchronous: bool = False) -> dict[str, Any]:
    import openai

    return sdk_client_args(openai, target, asynchronous=asynchronous)


def _reply(request: ChatRequest, completion: Any) -> Reply:
    choices = getattr(completion, "choices", None) or []
    if not choices:
        raise LlmRequestRefused(f"openai answered no choice for model {request.model}")
    message = choices[0].message
    if getattr(message, "refusal", None):
        raise LlmRequestRefused(f"openai model {request.model} refused to answer")
    usage = getattr(completion, "usage", None)  # compatible servers may leave it out: estimated then
    return Reply(text=message.content or "", model=str(getattr(completion, "model", None) or request.model),
                 usage=None if usage is None else Usage(
                     input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                     output_tokens=int(getattr(usage, "completion_tokens", 0) or 0)))


def _pieces(chunk: Any) -> Iterator[Piece]:
    for choice in getattr(chunk, "choices", None) or []:
        text = getattr(choice.delta, "content", None)
        if text:
            yield text
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        yield Usage(input_tokens=int(usage.prompt_tokens or 0),
                    output_tokens=int(usage.completion_tokens or 0))


class OpenAIBackend:
    """The ``openai`` provider (sync twins and async twins share :func:`_params` and :func:`_reply`)."""

    name: ClassVar[str] = "openai"
    default_model: ClassVar[str] = "gpt-4o-mini"
    base_url_variable: ClassVar[str | None] = "OPENAI_BASE_URL"
    key_variable: ClassVar[str | None] = "OPENAI_API_KEY"

    def _error(self, request: ChatRequest, exc: Exception) -> LlmError:
        import openai

        known = sdk_error(openai, self.name, request.model, exc)
        if known is not None:
            return known
        if isinstance(exc, openai.OpenAIError) and "api_key" in str(exc):
            return LlmKeyMissing(f"openai has no key for model {request.model}: give api_key, set "
                                 f"AUTOMATE_LLM_API_KEY or OPENAI_API_KEY")
        return LlmRequestRefused(f"openai call for model {request.model} failed ({type(exc).__name__})")

    def send(self, request: ChatRequest, target: Target) -> Reply:
        import openai

        try:
            with openai.OpenAI(**_client_args(target)) as client:
                return _reply(request, client.chat.completions.create(**_params(request)))
        except openai.OpenAIError as exc:
            failure = self._error(request, exc)
        raise failure  # outside the handler: the SDK's exception (its message) is not chained

    async def asend(self, request: ChatRequest, target: Target) -> Reply:
        import openai

        try:
            async with openai.AsyncOpenAI(**_client_args(target, asynchronous=True)) as client:
                return _reply(request, await client.chat.completions.create(**_params(request)))
        except openai.OpenAIError as exc:
            failure = self._error(request, exc)
        raise failure  # outside the handler: the SDK's exception (its message) is not chained

    def stream(self, request: ChatRequest, target: Target) -> Generator[Piece]:
        import openai

        try:
            with openai.OpenAI(**_client_args(target)) as client:
                chunks = client.chat.completions.create(**_params(request), stream=True,
                                                        stream_options={"include_usage": True})
                with chunks:
                    for chunk in chunks:
                        yield from _pieces(chunk)
        except openai.OpenAIError as exc:
            failure = self._error(request, exc)
        else:
            return
        raise failure  # outside the handler: the SDK's exception (its message) is not chained

    async def astream(self, request: ChatRequest, target: Target) -> AsyncGenerator[Piece]:
        import openai

        try:
            async with openai.AsyncOpenAI(**_client_args(target, asynchronous=True)) as client:
                chunks = await client.chat.completions.create(**_params(request), stream=True,
                                                              stream_options={"include_usage": True})
                async with chunks:
                    async for chunk in chunks:
                        for piece in _pieces(chunk):
                            yield piece
        except openai.OpenAIError as exc:
            failure = self._error(request, exc)
        else:
            return
        raise failure  # outside the handler: the SDK's exception (its message) is not chained
