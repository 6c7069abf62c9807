"""``anthropic``: Anthropic's Messages API through the ``anthropic`` SDK.

System messages go in ``system``; ``max_tokens`` (which the API requires) defaults to 1024.
``temperature`` and ``top_p`` are not sent: the Messages API of the SDK's version (2.x) no longer takes
sampling parameters. A schema is
answered through a tool the model is made to call (``tool_choice``), whose input is the JSON document:
every Claude model since the third generation supports it, and the answer is validated here anyway. The
key comes from the call, the connection or the settings, else ``ANTHROPIC_API_KEY``; the base URL from
them or ``ANTHROPIC_BASE_URL``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Generator, Iterator
from typing import Any, ClassVar

from automate.errors import LlmError, LlmRequestRefused
from automate_llm.providers.base import (
    OUTPUT_TOOL,
    Piece,
    Reply,
    Target,
    Usage,
    sdk_client_args,
    sdk_error,
)
from automate_llm.request import ChatRequest

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicBackend"]

DEFAULT_MAX_TOKENS = 1024


def _params(request: ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
                              "messages": [m.as_dict() for m in request.turns]}
    if request.system is not None:
        params["system"] = request.system
    if request.stop:
        params["stop_sequences"] = list(request.stop)
    if request.schema is not None:
        params["tools"] = [{"name": OUTPUT_TOOL, "description": "Answer with this tool's input.",
                            "input_schema": dict(request.schema)}]
        params["tool_choice"] = {"type": "tool", "name": OUTPUT_TOOL}
    return params


def _client_args(target: Target, *, asynchronous: bool = False) -> dict[str, Any]:
    import anthropic

    return sdk_client_args(anthropic, target, asynchronous=asynchronous)


def _reply(request: ChatRequest, message: Any) -> Reply:
    texts: list[str] = []
    for block in getattr(message, "content", None) or []:
        if block.type == "tool_use" and block.name == OUTPUT_TOOL:
            texts = [json.dumps(block.input)]
            break
        if block.type == "text":
            texts.append(block.text)
    usage = getattr(message, "usage", None)
    return Reply(text="".join(texts), model=str(getattr(message, "model", None) or request.model),
                 usage=None if usage is None else Usage(
                     input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
                     output_tokens=int(getattr(usage, "output_tokens", 0) or 0)))


class _StreamState:
    """What a stream's events add up to: the input tokens come first, the output tokens last."""

    def __init__(self) -> None:
        self.input_tokens = 0

    def pieces(self, event: Any) -> Iterator[Piece]:
        if event.type == "message_start":
            self.input_tokens = int(getattr(event.message.usage, "input_tokens", 0) or 0)
        elif event.type == "content_block_delta":
            delta = event.delta
            text = delta.text if delta.type == "text_delta" else (
                delta.partial_json if delta.type == "input_json_delta" else "")
            if text:
                yield text
        elif event.type == "message_delta":
            yield Usage(input_tokens=self.input_tokens,
                        output_tokens=int(getattr(event.usage, "output_tokens", 0) or 0))


class AnthropicBackend:
    """The ``anthropic`` provider (sync twins and async twins share :func:`_params` and :func:`_reply`)."""

    name: ClassVar[str] = "anthropic"
    default_model: ClassVar[str] = "claude-3-5-haiku-latest"
    base_url_variable: ClassVar[str | None] = "ANTHROPIC_BASE_URL"
    key_variable: ClassVar[str | None] = "ANTHROPIC_API_KEY"

    def _error(self, request: ChatRequest, exc: Exception) -> LlmError:
        import anthropic

        known = sdk_error(anthropic, self.name, request.model, exc)
        if known is not None:
            return known
        return LlmRequestRefused(f"anthropic call for model {request.model} failed ({type(exc).__name__})")

    def send(self, request: ChatRequest, target: Target) -> Reply:
        import anthropic

        try:
            with anthropic.Anthropic(**_client_args(target)) as client:
                return _reply(request, client.messages.create(**_params(request)))
        except anthropic.AnthropicError as exc:
            failure = self._error(request, exc)
        raise failure  # outside the handler: the SDK's exception (its message) is not chained

    async def asend(self, request: ChatRequest, target: Target) -> Reply:
        import anthropic

        try:
            async with anthropic.AsyncAnthropic(**_client_args(target, asynchronous=True)) as client:
                return _reply(request, await client.messages.create(**_params(request)))
        except anthropic.AnthropicError as exc:
            failure = self._error(request, exc)
        raise failure  # outside the handler: the SDK's exception (its message) is not chained

    def stream(self, request: ChatRequest, target: Target) -> Generator[Piece]:
        import anthropic

        state = _StreamState()
        try:
            with anthropic.Anthropic(**_client_args(target)) as client:
                events = client.messages.create(**_params(request), stream=True)
                with events:
                    for event in events:
                        yield from state.pieces(event)
        except anthropic.AnthropicError as exc:
            failure = self._error(request, exc)
        else:
            return
        raise failure  # outside the handler: the SDK's exception (its message) is not chained

    async def astream(self, request: ChatRequest, target: Target) -> AsyncGenerator[Piece]:
        import anthropic

        state = _StreamState()
        try:
            async with anthropic.AsyncAnthropic(**_client_args(target, asynchronous=True)) as client:
                events = await client.messages.create(**_params(request), stream=True)
                async with events:
                    async for event in events:
                        for piece in state.pieces(event):
                            yield piece
        except anthropic.AnthropicError as exc:
            failure = self._error(request, exc)
        else:
            return
        raise failure  # outside the handler: the SDK's exception (its message) is not chained
