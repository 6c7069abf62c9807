"""``bedrock``: Amazon Bedrock's Converse API (``converse``, ``converse_stream``) through boto3.

Credentials are boto3's own chain (environment, profile, instance role; ``AWS_BEARER_TOKEN_BEDROCK`` for
a Bedrock API key); the region and endpoint come from the call or connection, else
``settings.aws_region`` / ``settings.aws_endpoint_url``, else boto3's configuration. botocore's retries are
off (one attempt): :mod:`automate_llm.retry` retries throttling and 5xx as for the other providers. A
schema is answered through a tool the model must call (``toolChoice``), as with Anthropic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncGenerator, Generator, Iterator
from typing import Any, ClassVar

from automate.errors import LlmError, LlmKeyMissing, LlmRequestRefused
from automate_llm.providers.base import (
    OUTPUT_TOOL,
    Piece,
    Reply,
    Target,
    Usage,
    looks_like_context,
    retry_after_of,
    status_error,
    unavailable,
)
from automate_llm.request import ChatRequest

__all__ = ["BedrockBackend"]

_END = object()
_loader: Any = None
_loader_lock = threading.Lock()


def _session() -> Any:
    """A new boto3 session (credentials are looked up afresh, as the chain says now) sharing one
    botocore data loader: parsing the service models again cost ~50 ms a call."""
    import boto3
    import botocore.session

    global _loader
    core = botocore.session.Session()
    with _loader_lock:
        if _loader is None:
            _loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _loader)
    return boto3.session.Session(botocore_session=core)


def _params(request: ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"modelId": request.model, "messages": [
        {"role": m.role, "content": [{"text": m.content}]} for m in request.turns]}
    if request.system is not None:
        params["system"] = [{"text": request.system}]
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = min(request.temperature, 1.0)
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if config:
        params["inferenceConfig"] = config
    if request.schema is not None:
        params["toolConfig"] = {
            "tools": [{"toolSpec": {"name": OUTPUT_TOOL, "description": "Answer with this tool's input.",
                                    "inputSchema": {"json": dict(request.schema)}}}],
            "toolChoice": {"tool": {"name": OUTPUT_TOOL}}}
    return params


def _reply(request: ChatRequest, answer: dict[str, Any]) -> Reply:
    blocks = ((answer.get("output") or {}).get("message") or {}).get("content") or []
    texts: list[str] = []
    for block in blocks:
        tool = block.get("toolUse")
        if tool and tool.get("name") == OUTPUT_TOOL:
            texts = [json.dumps(tool.get("input"))]
            break
        if "text" in block:
            texts.append(str(block["text"]))
    usage = answer.get("usage")
    return Reply(text="".join(texts), model=request.model,
                 usage=None if not usage else Usage(input_tokens=int(usage.get("inputTokens") or 0),
                                                    output_tokens=int(usage.get("outputTokens") or 0)))


def _pieces(event: dict[str, Any]) -> Iterator[Piece]:
    delta = (event.get("contentBlockDelta") or {}).get("delta") or {}
    text = delta.get("text") or (delta.get("toolUse") or {}).get("input")
    if text:
        yield str(text)
    usage = (event.get("metadata") or {}).get("usage")
    if usage:
        yield Usage(input_tokens=int(usage.get("inputTokens") or 0),
                    output_tokens=int(usage.get("outputTokens") or 0))


class BedrockBackend:
    """The ``bedrock`` provider; boto3 is synchronous, so the async twins run it in a thread."""

    name: ClassVar[str] = "bedrock"
    default_model: ClassVar[str] = "amazon.nova-lite-v1:0"
    base_url_variable: ClassVar[str | None] = None
    key_variable: ClassVar[str | None] = None

    def _client(self, target: Target) -> Any:
        from botocore.config import Config

        config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=target.timeout,
                        connect_timeout=min(target.timeout, 10.0))
        return _session().client("bedrock-runtime", region_name=target.region,
                                 endpoint_url=target.endpoint_url, config=config)

    def _error(self, request: ChatRequest, exc: Exception) -> LlmError:
        from botocore import exceptions as boto

        if isinstance(exc, boto.ClientError):
            error = exc.response.get("Error") or {}
            meta = exc.response.get("ResponseMetadata") or {}
            code = str(error.get("Code") or "")
            status = int(meta.get("HTTPStatusCode") or 0) or _STATUS.get(code, 400)
            kind = code if code.replace("Exception", "").isalnum() else None
            context = status == 400 and looks_like_context(error.get("Message"))  # read, never quoted
            return status_error(self.name, request.model, status, kind=kind,
                                body="input is too long" if context else None,
                                retry_after=retry_after_of(meta.get("HTTPHeaders")))
        if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
            return LlmKeyMissing(f"bedrock has no AWS credentials for model {request.model}")
        if isinstance(exc, boto.NoRegionError):
            return LlmRequestRefused(f"bedrock needs a region for model {request.model}: set "
                                     f"AUTOMATE_AWS_REGION or AWS_DEFAULT_REGION")
        if isinstance(exc, _boto_classes(_CONFIGURATION)):  # retrying cannot help: a typo, a missing profile
            return LlmRequestRefused(f"bedrock cannot be called for model {request.model}: its AWS "
                                     f"configuration is wrong ({type(exc).__name__})")
        if isinstance(exc, boto.BotoCoreError | OSError):
            return unavailable(self.name, request.model, exc)
        return LlmRequestRefused(f"bedrock call for model {request.model} failed ({type(exc).__name__})")

    def send(self, request: ChatRequest, target: Target) -> Reply:
        from botocore.exceptions import BotoCoreError, ClientError

        client = None
        try:
            client = self._client(target)
            return _reply(request, client.converse(**_params(request)))
        except (BotoCoreError, ClientError, OSError) as exc:
            failure = self._error(request, exc)
        finally:
            if client is not None:
                client.close()  # its connection pool
        raise failure  # outside the handler: the SDK's exception (its message) is not chained

    async def asend(self, request: ChatRequest, target: Target) -> Reply:
        return await asyncio.to_thread(self.send, request, target)

    def stream(self, request: ChatRequest, target: Target) -> Generator[Piece]:
        from botocore.exceptions import BotoCoreError, ClientError

        client = events = None
        try:
            client = self._client(target)
            events = client.converse_stream(**_params(request))["stream"]
            for event in events:
                yield from _pieces(event)
        except (BotoCoreError, ClientError, OSError) as exc:
            failure = self._error(request, exc)
        else:
            return
        finally:  # also when the consumer stops early (GeneratorExit): the response and the pool
            if events is not None:
                events.close()
            if client is not None:
                client.close()
        raise failure  # outside the handler: the SDK's exception (its message) is not chained

    async def astream(self, request: ChatRequest, target: Target) -> AsyncGenerator[Piece]:
        pieces = self.stream(request, target)
        try:
            while (piece := await asyncio.to_thread(next, pieces, _END)) is not _END:
                yield piece  # type: ignore[misc]
        finally:
            with contextlib.suppress(ValueError):  # cancelled while a thread is in next(): closed after it
                pieces.close()


# Bedrock's error codes, for a ClientError without an HTTP status (an error inside an event stream).
_STATUS = {"ThrottlingException": 429, "ServiceUnavailableException": 503, "InternalServerException": 500,
           "ModelTimeoutException": 408, "ModelNotReadyException": 429, "AccessDeniedException": 403,
           "UnrecognizedClientException": 403, "ResourceNotFoundException": 404, "ValidationException": 400,
           "ModelStreamErrorException": 500}


def _boto_classes(names: tuple[str, ...]) -> tuple[type[BaseException], ...]:
    from botocore import exceptions

    return tuple(getattr(exceptions, name) for name in names if hasattr(exceptions, name))


# BotoCoreError subclasses that say the configuration is wrong: not LlmUnavailable, not retried.
_CONFIGURATION = ("InvalidRegionError", "ProfileNotFound", "UnknownServiceError",
                  "InvalidConfigError", "InvalidEndpointConfigurationError", "UnknownEndpointError",
                  "InvalidS3AddressingStyleError", "UnknownCredentialError",
                  "InvalidRetryConfigurationError", "InvalidMaxRetryAttemptsError",
                  "InvalidRetryModeError", "ConfigNotFound", "ConfigParseError",
                  "UnknownSignatureVersionError", "UnsupportedSignatureVersionError")
