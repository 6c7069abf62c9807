"""The entry points: :func:`complete` (everything about a call), :func:`chat` (its text), and
:func:`stream` (its text in pieces), each with an async twin.

A call goes: prepare (:mod:`automate_llm.calls`) → the cache, when asked → the automation's budget →
the provider, retried by the one policy → accounting (metrics, the budget's usage) → the schema's check
→ the cache. The sync and async paths share everything but the waiting; the database work of the async
twins runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from automate.errors import AutomateError, LlmUnavailable, UsageError
from automate_llm import budgets, cache, retry
from automate_llm.calls import Call, prepare
from automate_llm.metrics import llm_metrics
from automate_llm.models import cost_usd
from automate_llm.providers.base import Reply, Usage
from automate_llm.structured import parse_output
from automate_llm.tokens import count_message_tokens, count_tokens

__all__ = ["ChatResult", "achat", "acomplete", "astream", "chat", "complete", "stream"]

log = logging.getLogger("automate.llm")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatResult:
    """Everything about one call's answer.

    Attributes:
        text: The answer (for a schema, the JSON document's text).
        json: The parsed, validated document when a schema was given, else None.
        cost_usd: At list price (0.0 for a cached answer or an unpriced model).
        cached: Whether it came from the response cache.
    """

    text: str
    json: Any
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cached: bool

    def as_output(self) -> dict[str, Any]:
        """The ``llm.chat`` step's output."""
        return {"text": self.text, "json": self.json, "model": self.model, "cached": self.cached,
                "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens},
                "cost_usd": self.cost_usd}


def _outcome(call: Call, error: BaseException, started: float) -> None:
    code = error.code if isinstance(error, AutomateError) else "internal"
    llm_metrics().record(provider=call.request.provider, model=call.request.model, outcome=str(code),
                         seconds=time.perf_counter() - started)
    log.info("llm call failed", extra={"action": "llm.call", "provider": call.request.provider,
                                       "model": call.request.model, "code": code, "tenant": call.tenant})


def _account(call: Call, reply: Reply) -> float:
    """Metrics and log of a call the provider answered; returns its cost."""
    cost = cost_usd(call.request.model, reply.usage.input_tokens, reply.usage.output_tokens,
                    dict(call.settings.llm_prices))
    llm_metrics().record(provider=call.request.provider, model=call.request.model, outcome=None,
                         input_tokens=reply.usage.input_tokens, output_tokens=reply.usage.output_tokens,
                         cost_usd=cost)
    log.info("llm call", extra={"action": "llm.call", "provider": call.request.provider,
                                "model": call.request.model, "tenant": call.tenant,
                                "input_tokens": reply.usage.input_tokens,
                                "output_tokens": reply.usage.output_tokens})
    return cost


def _charge(call: Call, reply: Reply, cost: float) -> None:
    if call.automation is not None:
        budgets.charge(call.settings, call.tenant, call.automation, input_tokens=reply.usage.input_tokens,
                       output_tokens=reply.usage.output_tokens, cost_usd=cost)


def _result(call: Call, reply: Reply, cost: float, *, cached: bool) -> ChatResult:
    document = None
    if call.request.schema is not None:
        document = parse_output(reply.text, call.request.schema, provider=call.request.provider,
                                model=call.request.model)
    return ChatResult(text=reply.text, json=document, provider=call.request.provider, model=reply.model,
                      input_tokens=reply.usage.input_tokens, output_tokens=reply.usage.output_tokens,
                      cost_usd=cost, cached=cached)


def _cached(call: Call, reply: Reply) -> ChatResult:
    llm_metrics().record(provider=call.request.provider, model=call.request.model, outcome="cached")
    return _result(call, reply, 0.0, cached=True)


def _before(call: Call) -> Reply | None:
    """The cached reply, else None after checking the budget (raises LlmBudgetExceeded)."""
    if call.cache_key is not None:
        hit = cache.lookup(call.settings, call.tenant, call.cache_key)
        if hit is not None:
            return hit
    if call.automation is not None:
        budgets.check(call.settings, call.tenant, call.automation)
    return None


def _after(call: Call, reply: Reply, started: float) -> ChatResult:
    cost = _account(call, reply)
    _charge(call, reply, cost)
    result = _result(call, reply, cost, cached=False)  # a schema's check after the usage: it was spent
    if call.cache_key is not None:
        cache.store(call.settings, call.tenant, call.cache_key, reply)
    llm_metrics().record(provider=call.request.provider, model=call.request.model, outcome="ok",
                         seconds=time.perf_counter() - started)
    return result


def complete(messages: Any = None, /, **options: Any) -> ChatResult:
    """Send a chat call and return everything about its answer (async twin: :func:`acomplete`).

    Args:
        messages: ``[{"role": "system" | "user" | "assistant", "content": str}, ...]`` (also by keyword).
        **options: ``provider``, ``model``, ``temperature``, ``max_tokens``, ``top_p``, ``stop``,
            ``schema`` (a JSON schema the answer must satisfy), ``cache`` (bool), ``timeout`` (seconds),
            ``max_retries``, ``api_key`` (a key or a reference such as ``$secret:OPENAI_KEY``),
            ``base_url``, ``region``, ``endpoint_url``, ``tenant``, ``automation`` (whose budget),
            ``settings``.

    Raises:
        UsageError: Bad messages or options.
        UnknownProvider, UnknownModel, LlmKeyMissing, LlmContextExceeded, LlmRequestRefused:
            The call cannot succeed as written.
        LlmUnavailable: The provider kept failing through every retry (retryable).
        LlmOutputInvalid: The answer is not the JSON its schema asks for.
        LlmBudgetExceeded: The automation has spent its budget.
    """
    call = prepare(_messages(messages, options), options)
    started = time.perf_counter()
    try:
        hit = _before(call)
        if hit is not None:
            return _cached(call, hit)
        reply = retry.run(lambda: call.backend.send(call.request, call.target), call.policy)
        return _after(call, reply, started)
    except Exception as error:
        _outcome(call, error, started)
        raise


async def acomplete(messages: Any = None, /, **options: Any) -> ChatResult:
    """Async twin of :func:`complete`."""
    call = prepare(_messages(messages, options), options)
    started = time.perf_counter()
    try:
        hit = await asyncio.to_thread(_before, call)
        if hit is not None:
            return _cached(call, hit)
        reply = await retry.arun(lambda: call.backend.asend(call.request, call.target), call.policy)
        return await asyncio.to_thread(_after, call, reply, started)
    except Exception as error:
        _outcome(call, error, started)
        raise


def chat(messages: Any = None, /, **options: Any) -> str:
    """Send a chat call and return the answer's text (see :func:`complete` for the options and errors).

    Example::

        chat([{"role": "user", "content": "What is the capital of France?"}], model="gpt-4o-mini")
    """
    return complete(_messages(messages, options), **options).text


async def achat(messages: Any = None, /, **options: Any) -> str:
    """Async twin of :func:`chat`."""
    return (await acomplete(_messages(messages, options), **options)).text


def _messages(messages: Any, options: dict[str, Any]) -> Any:
    """``messages`` positionally or by keyword (the seed's examples write both)."""
    if "messages" in options:
        if messages is not None:
            raise UsageError("messages given twice")
        return options.pop("messages")
    return messages


def _streamed(call: Call, texts: list[str], usage: Usage | None) -> Reply:
    """The reply a stream added up to (its usage estimated when the server did not report it)."""
    text = "".join(texts)
    if usage is None:
        tokenizers = dict(call.settings.llm_tokenizers)
        usage = Usage(input_tokens=count_message_tokens((m.content for m in call.request.messages),
                                                        call.request.model, tokenizers=tokenizers),
                      output_tokens=count_tokens(text, call.request.model, tokenizers=tokenizers))
    return Reply(text=text, model=call.request.model, usage=usage)


def stream(messages: Any = None, /, **options: Any) -> Iterator[str]:
    """Send a chat call and yield its answer in pieces as they arrive (async twin: :func:`astream`).

    The options are :func:`complete`'s but ``schema``. A failure before the first piece is retried as
    any call is; once pieces have been yielded, it propagates (a retry would repeat them). A cached
    answer comes as one piece.
    """
    call = _stream_call(messages, options)
    started = time.perf_counter()
    try:
        hit = _before(call)
        if hit is not None:
            _cached(call, hit)
            yield hit.text
            return
        texts: list[str] = []
        usage: Usage | None = None
        attempt = 0
        while True:
            try:
                for piece in call.backend.stream(call.request, call.target):
                    if isinstance(piece, Usage):
                        usage = piece
                    else:
                        texts.append(piece)
                        yield piece
                break
            except LlmUnavailable as error:
                attempt += 1
                wait = None if texts else call.policy.delay(attempt, error)
                if wait is None:
                    raise
                time.sleep(wait)
        _after(call, _streamed(call, texts, usage), started)
    except Exception as error:
        _outcome(call, error, started)
        raise


async def astream(messages: Any = None, /, **options: Any) -> AsyncIterator[str]:
    """Async twin of :func:`stream`."""
    call = _stream_call(messages, options)
    started = time.perf_counter()
    try:
        hit = await asyncio.to_thread(_before, call)
        if hit is not None:
            _cached(call, hit)
            yield hit.text
            return
        texts: list[str] = []
        usage: Usage | None = None
        attempt = 0
        while True:
            try:
                async for piece in call.backend.astream(call.request, call.target):
                    if isinstance(piece, Usage):
                        usage = piece
                    else:
                        texts.append(piece)
                        yield piece
                break
            except LlmUnavailable as error:
                attempt += 1
                wait = None if texts else call.policy.delay(attempt, error)
                if wait is None:
                    raise
                await asyncio.sleep(wait)
        await asyncio.to_thread(_after, call, _streamed(call, texts, usage), started)
    except Exception as error:
        _outcome(call, error, started)
        raise


def _stream_call(messages: Any, options: dict[str, Any]) -> Call:
    if options.get("schema") is not None:
        raise UsageError("stream does not take a schema: the pieces cannot be validated; use complete")
    return prepare(_messages(messages, options), options)

