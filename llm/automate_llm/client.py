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
from dataclasses import dataclass, field
from typing import Any

from automate.errors import AutomateError, LlmUnavailable, UsageError
from automate_llm import budgets, cache, retry
from automate_llm.calls import Call, prepare
from automate_llm.metrics import llm_metrics
from automate_llm.models import cost_usd, label
from automate_llm.providers.base import Piece, Reply, Usage
from automate_llm.structured import parse_output
from automate_llm.tokens import count_tokens

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


def _label(call: Call) -> str:
    return label(call.request.model, dict(call.settings.llm_prices))


def _outcome(call: Call, error: BaseException, started: float) -> None:
    if isinstance(error, GeneratorExit | asyncio.CancelledError):
        code = "cancelled"
    else:
        code = str(error.code) if isinstance(error, AutomateError) else "internal"
    llm_metrics().record(provider=call.request.provider, model=_label(call), outcome=code,
                         seconds=time.perf_counter() - started)
    log.info("llm call failed", extra={"action": "llm.call", "provider": call.request.provider,
                                       "model": call.request.model, "code": code, "tenant": call.tenant})


def _with_usage(call: Call, reply: Reply) -> Reply:
    """``reply`` with its usage estimated (:mod:`automate_llm.tokens`) when the server reported none."""
    if reply.usage is not None:
        return reply
    tokenizers = dict(call.settings.llm_tokenizers)
    return Reply(text=reply.text, model=reply.model, usage=Usage(
        input_tokens=call.prompt_tokens, output_tokens=count_tokens(reply.text, call.request.model,
                                                                   tokenizers=tokenizers)))


def _usage(reply: Reply) -> Usage:
    return reply.usage or Usage()


def _account(call: Call, reply: Reply) -> float:
    """Metrics and log of what a call spent (``reply``'s usage already known); returns its cost."""
    usage = _usage(reply)
    cost = cost_usd(call.request.model, usage.input_tokens, usage.output_tokens,
                    dict(call.settings.llm_prices))
    llm_metrics().record(provider=call.request.provider, model=_label(call), outcome=None,
                         input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cost_usd=cost)
    log.info("llm call", extra={"action": "llm.call", "provider": call.request.provider,
                                "model": call.request.model, "tenant": call.tenant,
                                "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens})
    return cost


def _charge(call: Call, reply: Reply, cost: float, reservation: budgets.Reservation | None) -> None:
    if call.automation is not None:
        usage = _usage(reply)
        budgets.settle(call.settings, call.tenant, call.automation, reservation,
                       input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cost_usd=cost)


def _result(call: Call, reply: Reply, cost: float, *, cached: bool) -> ChatResult:
    document = None
    if call.request.schema is not None:
        document = parse_output(reply.text, call.request.schema, provider=call.request.provider,
                                model=call.request.model)
    usage = _usage(reply)
    return ChatResult(text=reply.text, json=document, provider=call.request.provider, model=reply.model,
                      input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                      cost_usd=cost, cached=cached)


def _cached(call: Call, reply: Reply) -> ChatResult:
    llm_metrics().record(provider=call.request.provider, model=_label(call), outcome="cached")
    return _result(call, reply, 0.0, cached=True)


def _before(call: Call) -> tuple[Reply | None, budgets.Reservation | None]:
    """The cached reply, else the call's reservation of its automation's budget (raises
    LlmBudgetExceeded when it does not fit)."""
    if call.cache_key is not None:
        hit = cache.lookup(call.settings, call.tenant, call.cache_key)
        if hit is not None:
            return hit, None
    if call.automation is None:
        return None, None
    policy = call.policy
    longest = call.target.timeout * (policy.max_retries + 1) + policy.max_wait * policy.max_retries
    return None, budgets.reserve(call.settings, call.tenant, call.automation, model=call.request.model,
                                 input_tokens=call.prompt_tokens,
                                 output_tokens=call.request.max_tokens or budgets.DEFAULT_OUTPUT_RESERVE,
                                 ttl_s=longest)


def _failed(call: Call, error: BaseException, reservation: budgets.Reservation | None,
            started: float) -> None:
    """A call that spent nothing: its reservation removed, its outcome counted (never raises)."""
    if reservation is not None:
        try:
            budgets.release(call.settings, reservation)
        except Exception:  # the reservation expires by itself; the call's own error matters more
            log.warning("llm budget reservation not released", extra={"action": "llm.call",
                                                                      "automation": call.automation})
    _outcome(call, error, started)


def _after(call: Call, reply: Reply, reservation: budgets.Reservation | None, started: float) -> ChatResult:
    reply = _with_usage(call, reply)
    cost = _account(call, reply)
    _charge(call, reply, cost, reservation)
    result = _result(call, reply, cost, cached=False)  # a schema's check after the usage: it was spent
    if call.cache_key is not None:
        cache.store(call.settings, call.tenant, call.cache_key, reply)
    llm_metrics().record(provider=call.request.provider, model=_label(call), outcome="ok",
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
    reservation = None
    try:
        hit, reservation = _before(call)
        if hit is not None:
            return _cached(call, hit)
        reply = retry.run(lambda: call.backend.send(call.request, call.target), call.policy)
    except BaseException as error:
        _failed(call, error, reservation, started)
        raise
    try:
        return _after(call, reply, reservation, started)
    except BaseException as error:
        _outcome(call, error, started)
        raise


async def acomplete(messages: Any = None, /, **options: Any) -> ChatResult:
    """Async twin of :func:`complete`."""
    # preparing reads secrets (Postgres, a vault) and counts the prompt's tokens: off the event loop
    call = await asyncio.to_thread(prepare, _messages(messages, options), options)
    started = time.perf_counter()
    reservation = None
    try:
        hit, reservation = await asyncio.to_thread(_before, call)
        if hit is not None:
            return await asyncio.to_thread(_cached, call, hit)
        reply = await retry.arun(lambda: call.backend.asend(call.request, call.target), call.policy)
    except BaseException as error:
        await asyncio.shield(asyncio.to_thread(_failed, call, error, reservation, started))
        raise
    try:
        return await asyncio.to_thread(_after, call, reply, reservation, started)
    except BaseException as error:
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


@dataclass(slots=True)
class _Flow:
    """A stream's state: what it received, its reservation, and whether it has been accounted for."""

    call: Call
    started: float
    texts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    reservation: budgets.Reservation | None = None
    settled: bool = False

    def take(self, piece: Piece) -> str | None:
        if isinstance(piece, Usage):
            self.usage = piece
            return None
        self.texts.append(piece)
        return piece

    def reply(self) -> Reply:
        return Reply(text="".join(self.texts), model=self.call.request.model, usage=self.usage)

    def finish(self) -> None:
        """The whole answer arrived: charge it (the usage estimated when the server sent none)."""
        self.settled = True
        _after(self.call, self.reply(), self.reservation, self.started)

    def stop(self, error: BaseException) -> None:
        """The stream ended early (the consumer stopped, was cancelled, or the provider failed): what
        was received is charged (estimated when the server sent no usage), else the reservation is
        released; the outcome is ``cancelled`` or the error's code. Never raises."""
        if self.settled:  # answered (from the cache, or the whole stream) before the error
            if not isinstance(error, GeneratorExit | asyncio.CancelledError):
                _outcome(self.call, error, self.started)
            return
        self.settled = True
        if not self.texts and self.usage is None:
            _failed(self.call, error, self.reservation, self.started)
            return
        try:
            reply = _with_usage(self.call, self.reply())
            _charge(self.call, reply, _account(self.call, reply), self.reservation)
        except Exception:
            log.warning("llm stream usage not charged", extra={"action": "llm.call",
                                                               "automation": self.call.automation})
        _outcome(self.call, error, self.started)


def stream(messages: Any = None, /, **options: Any) -> Iterator[str]:
    """Send a chat call and yield its answer in pieces as they arrive (async twin: :func:`astream`).

    The options are :func:`complete`'s but ``schema``. A failure before the first piece is retried as
    any call is; once pieces have been yielded, it propagates (a retry would repeat them). A cached
    answer comes as one piece. A stream stopped early (``break``, ``close()``, a failure part-way) is
    charged for what it received.
    """
    flow = _Flow(call=_stream_call(messages, options), started=time.perf_counter())
    call = flow.call
    try:
        hit, flow.reservation = _before(call)
        if hit is not None:
            flow.settled = True
            _cached(call, hit)
            yield hit.text
            return
        attempt = 0
        while True:
            pieces = call.backend.stream(call.request, call.target)
            try:
                for piece in pieces:
                    text = flow.take(piece)
                    if text is not None:
                        yield text
                break
            except LlmUnavailable as error:
                attempt += 1
                wait = None if flow.texts else call.policy.delay(attempt, error)
                if wait is None:
                    raise
                time.sleep(wait)
            finally:
                pieces.close()
        flow.finish()
    except BaseException as error:
        flow.stop(error)
        raise


async def astream(messages: Any = None, /, **options: Any) -> AsyncIterator[str]:
    """Async twin of :func:`stream`."""
    call = await asyncio.to_thread(_stream_call, messages, options)
    flow = _Flow(call=call, started=time.perf_counter())
    try:
        hit, flow.reservation = await asyncio.to_thread(_before, call)
        if hit is not None:
            flow.settled = True
            await asyncio.to_thread(_cached, call, hit)
            yield hit.text
            return
        attempt = 0
        while True:
            pieces = call.backend.astream(call.request, call.target)
            try:
                async for piece in pieces:
                    text = flow.take(piece)
                    if text is not None:
                        yield text
                break
            except LlmUnavailable as error:
                attempt += 1
                wait = None if flow.texts else call.policy.delay(attempt, error)
                if wait is None:
                    raise
                await asyncio.sleep(wait)
            finally:
                await pieces.aclose()
        await asyncio.to_thread(flow.finish)
    except BaseException as error:
        await asyncio.shield(asyncio.to_thread(flow.stop, error))
        raise


def _stream_call(messages: Any, options: dict[str, Any]) -> Call:
    if options.get("schema") is not None:
        raise UsageError("stream does not take a schema: the pieces cannot be validated; use complete")
    return prepare(_messages(messages, options), options)

