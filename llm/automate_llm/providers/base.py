"""What a provider module implements, and the one translation of a provider's HTTP answer into the error
tree that they all share.

A provider turns a :class:`~automate_llm.request.ChatRequest` into its SDK's call and the answer into a
:class:`Reply` (or a stream of text pieces ending with the :class:`Usage`). It never retries (the SDK's
retries are off: :mod:`automate_llm.retry` retries for all of them) and never lets an SDK's message out:
they can quote a key (OpenAI's 401 does). :func:`status_error` builds the message from the provider, the
model, the status and the error's type only.
"""

from __future__ import annotations

import os
import re
import ssl
import threading
from collections.abc import AsyncGenerator, Generator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Protocol

from automate.errors import (
    LlmContextExceeded,
    LlmError,
    LlmKeyMissing,
    LlmRequestRefused,
    LlmUnavailable,
    UnknownModel,
)
from automate_llm.request import ChatRequest

__all__ = ["OUTPUT_TOOL", "Backend", "Piece", "Reply", "Target", "Usage", "error_kind", "looks_like_context",
           "retry_after_of", "sdk_client_args", "sdk_error", "status_error", "tls_context", "unavailable"]

OUTPUT_TOOL = "structured_output"
"""The tool a provider without a JSON-schema mode is made to call with the structured answer."""

_tls: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_tls_lock = threading.Lock()
_KIND = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_CONTEXT_MARKERS = ("context_length", "context length", "maximum context", "too many tokens",
                    "context window", "prompt is too long", "input is too long")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where a call goes and with what key (the key never shows in a repr).

    Attributes:
        api_key: The key; None: the SDK's own variable or credential chain.
        base_url: The server (an OpenAI-compatible one); None: the SDK's default or its variable.
        region: AWS region (bedrock).
        endpoint_url: An AWS endpoint (bedrock: a proxy, a local peer).
    """

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    timeout: float = 60.0
    region: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Tokens a call consumed, as the provider counted them."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A provider's answer: its text (for a schema, the JSON document), the model that answered, and its
    usage (None: the server reported none; the caller estimates it)."""

    text: str
    model: str
    usage: Usage | None


Piece = str | Usage
"""What a stream yields: text pieces, then one Usage last (when the provider reports it)."""


class Backend(Protocol):
    """One provider (sync and async alike; the async methods are the sync ones' twins)."""

    name: ClassVar[str]
    default_model: ClassVar[str]
    key_variable: ClassVar[str | None]  # the SDK's own key variable; None: a credential chain (bedrock)
    base_url_variable: ClassVar[str | None]  # the SDK's own base URL variable

    def send(self, request: ChatRequest, target: Target) -> Reply: ...

    async def asend(self, request: ChatRequest, target: Target) -> Reply: ...

    def stream(self, request: ChatRequest, target: Target) -> Generator[Piece]: ...

    def astream(self, request: ChatRequest, target: Target) -> AsyncGenerator[Piece]: ...


def error_kind(body: Any) -> str | None:
    """The error's type or code in a JSON error body (``invalid_api_key``), if it is a plain token: it
    names what went wrong without quoting anything."""
    candidates: list[Any] = []
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):
            candidates += [inner.get("code"), inner.get("type")]
        candidates += [body.get("code"), body.get("type") if body.get("type") != "error" else None]
    for candidate in candidates:
        if isinstance(candidate, str) and _KIND.match(candidate):
            return candidate
    return None


def looks_like_context(body: Any) -> bool:
    """Whether an error body (any JSON or text) says the prompt is over the context window. Read only to
    classify; never quoted."""
    text = str(body).lower()
    return any(marker in text for marker in _CONTEXT_MARKERS)


def retry_after_of(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), if usable."""
    if not headers:
        lowered: dict[str, str] = {}
    else:
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        if "retry-after" in lowered:
            return max(0.0, float(lowered["retry-after"]))
    except ValueError:
        try:
            from datetime import UTC, datetime

            when = parsedate_to_datetime(lowered["retry-after"])
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError, IndexError):
            return None
    return None


def status_error(provider: str, model: str, status: int, *, kind: str | None = None,
                 body: Any = None, retry_after: float | None = None) -> LlmError:
    """The error of an HTTP status a provider answered, its message built here (never the provider's)."""
    what = f"{provider} answered HTTP {status}" + (f" ({kind})" if kind else "") + f" for model {model}"
    if status in (401, 403):
        return LlmKeyMissing(f"{what}: the key was refused")
    if status == 404:
        return UnknownModel(f"{what}: no such model (or endpoint)")
    if status in (400, 413, 422) and (status == 413 or looks_like_context(body) or looks_like_context(kind)):
        return LlmContextExceeded(f"{what}: the prompt does not fit the model's context")
    if status in (408, 409, 425, 429) or status >= 500:
        return LlmUnavailable(what, retry_after=retry_after)
    return LlmRequestRefused(f"{what}: the request was refused")


def unavailable(provider: str, model: str, exc: BaseException) -> LlmUnavailable:
    """A timeout or a connection that failed, named by the exception's type only."""
    return LlmUnavailable(f"{provider} did not answer for model {model} ({type(exc).__name__})")


def tls_context() -> ssl.SSLContext:
    """The process's TLS context for the providers' HTTP clients, trusting what httpx would: the
    ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` environment variables when set, else certifi's roots (else the
    system's).

    Loading the trust roots takes ~20 ms, which an SDK client made per call would spend every time; made
    once per value of those variables, a client costs under a millisecond.
    """
    cert_file, cert_dir = os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None
    with _tls_lock:
        context = _tls.get((cert_file, cert_dir))
        if context is None:
            if cert_file is not None and os.path.isfile(cert_file):
                context = ssl.create_default_context(cafile=cert_file)
            elif cert_dir is not None and os.path.isdir(cert_dir):
                context = ssl.create_default_context(capath=cert_dir)
            else:
                try:
                    import certifi

                    context = ssl.create_default_context(cafile=certifi.where())
                except ImportError:
                    context = ssl.create_default_context()
            _tls[(cert_file, cert_dir)] = context
        return context


def sdk_client_args(sdk: Any, target: Target, *, asynchronous: bool = False) -> dict[str, Any]:
    """The keyword arguments of an openai or anthropic client (``sdk`` is the module; both SDKs have the
    same shape): the call's key, timeout and server, the SDK's own retries off (one policy retries for
    every provider) and an HTTP client on the shared TLS context."""
    http = sdk.DefaultAsyncHttpxClient if asynchronous else sdk.DefaultHttpxClient
    args: dict[str, Any] = {"api_key": target.api_key, "timeout": target.timeout, "max_retries": 0,
                            "http_client": http(verify=tls_context())}
    if target.base_url:
        args["base_url"] = target.base_url
    return args


def sdk_error(sdk: Any, provider: str, model: str, exc: Exception) -> LlmError | None:
    """The error of what an openai or anthropic SDK call raised (``sdk`` is the module: both raise
    ``APIStatusError`` with the response and its body, and ``APIConnectionError`` for timeouts and failed
    connections); None: neither, the provider decides."""
    if isinstance(exc, sdk.APIStatusError):
        headers = dict(exc.response.headers) if exc.response is not None else {}
        return status_error(provider, model, exc.status_code, kind=error_kind(exc.body), body=exc.body,
                            retry_after=retry_after_of(headers))
    if isinstance(exc, sdk.APIConnectionError):  # timeouts included
        return unavailable(provider, model, exc)
    return None
