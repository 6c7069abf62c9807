"""Turning ``chat(messages, **kwargs)`` into one prepared :class:`Call`: which provider, model, key and
server, the checked request, the retry policy, and whose budget and cache. Pure but for reading a
referenced key (``$secret:``, ``$env:``...); shared by every entry point, sync and async.

Precedence, for each of provider, model, key, base URL: the call's keyword, then the settings
(``AUTOMATE_LLM_*``; the settings' model, key and base URL only for the settings' provider, so a key
meant for one provider never goes to another), then the SDK's own variable (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``, ``ANTHROPIC_API_KEY``...), then the provider's default model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automate.config import Settings, get_settings
from automate.errors import LlmContextExceeded, LlmKeyMissing, LlmRequestRefused, UsageError
from automate.secrets import Reader, resolve
from automate.secrets.references import REFERENCE
from automate_llm.cache import cache_key
from automate_llm.models import lookup
from automate_llm.providers import backend
from automate_llm.providers.base import Backend, Target
from automate_llm.request import ChatRequest, parse_messages, parse_parameters, parse_schema
from automate_llm.retry import RetryPolicy
from automate_llm.tokens import count_message_tokens, is_exact

__all__ = ["MAX_RETRIES", "MAX_TIMEOUT", "OPTIONS", "Call", "prepare"]

OPTIONS = frozenset({"provider", "model", "temperature", "max_tokens", "top_p", "stop", "schema", "cache",
                     "timeout", "max_retries", "api_key", "base_url", "region", "endpoint_url", "tenant",
                     "automation", "settings"})
ESTIMATE_MARGIN = 0.85  # an estimated prompt is refused before the call only when certainly too long
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+\-]{0,199}$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_KEY = re.compile(r"[\x21-\x7e]{1,4096}")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
MAX_TIMEOUT = 600.0  # seconds per attempt
MAX_RETRIES = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One prepared call (its key only inside ``target``, which never shows it)."""

    request: ChatRequest
    target: Target
    backend: Backend
    policy: RetryPolicy
    settings: Settings
    tenant: str
    automation: str | None
    cache_key: str | None  # None: not cached
    prompt_tokens: int  # the prompt's tokens, counted or estimated (automate_llm.tokens)


def prepare(messages: Any, options: Mapping[str, Any]) -> Call:
    """Check ``messages`` and ``options`` (the keywords of :func:`automate_llm.chat`) and decide
    everything the call needs.

    Raises:
        UsageError: An unknown keyword or a value out of its range.
        UnknownProvider: No such provider.
        UnknownModel: No model named, configured or defaulted (never: every provider has a default).
        LlmKeyMissing: No key for the provider.
        LlmContextExceeded: A known model whose context cannot hold the prompt and ``max_tokens``.
    """
    unknown = set(options) - OPTIONS
    if unknown:
        raise UsageError(f"chat takes no {', '.join(sorted(unknown))}: use {', '.join(sorted(OPTIONS))}")
    settings = options.get("settings") or get_settings()
    if not isinstance(settings, Settings):
        raise UsageError("settings must be an automate.config.Settings")
    name = options.get("provider") or settings.llm_provider
    provider = backend(name)
    own = name == settings.llm_provider  # the settings' model, key and base URL are for their provider
    model = options.get("model") or (settings.llm_model if own else None) or provider.default_model
    if not isinstance(model, str) or not _MODEL.match(model):
        raise UsageError("model must be a model name (letters, digits and . _ : / @ + -, at most 200)")
    tenant = options.get("tenant") or settings.tenant
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise UsageError("tenant must be a tenant name")
    automation = options.get("automation")
    if automation is not None and (not isinstance(automation, str) or not _SLUG.match(automation)):
        raise UsageError("automation must be an automation slug")
    temperature, max_tokens, top_p, stop = parse_parameters(
        temperature=options.get("temperature"), max_tokens=options.get("max_tokens"),
        top_p=options.get("top_p"), stop=options.get("stop"))
    request = ChatRequest(provider=name, model=model, messages=parse_messages(messages),
                          temperature=temperature, max_tokens=max_tokens, top_p=top_p, stop=stop,
                          schema=parse_schema(options.get("schema")))
    prompt_tokens = _check_context(request, settings)
    key = _key(options, provider, settings, own=own, tenant=tenant, automation=automation)
    region = options.get("region") or settings.aws_region
    if region is not None and (not isinstance(region, str) or not _REGION.match(region)):
        raise UsageError("region must be an AWS region name")
    target = Target(api_key=key,
                    base_url=_base_url(options.get("base_url") or (settings.llm_base_url if own else None)),
                    timeout=_number(options.get("timeout"), settings.llm_timeout_s, "timeout", 0.001,
                                    MAX_TIMEOUT),
                    region=region or _boto_region(provider),
                    endpoint_url=_base_url(options.get("endpoint_url") or settings.aws_endpoint_url))
    retries = _number(options.get("max_retries"), settings.llm_max_retries, "max_retries", 0, MAX_RETRIES)
    cache = options.get("cache", False)
    if not isinstance(cache, bool):
        raise UsageError("cache must be true or false")
    return Call(request=request, target=target, backend=provider,
                policy=RetryPolicy(max_retries=int(retries)),
                settings=settings, tenant=tenant, automation=automation,
                prompt_tokens=prompt_tokens,
                cache_key=cache_key(request, destination=_destination(provider, target), key=key)
                if cache else None)


def _check_context(request: ChatRequest, settings: Settings) -> int:
    """The prompt's tokens (counted or estimated), checked against a known model's context window."""
    tokenizers = dict(settings.llm_tokenizers)
    prompt = count_message_tokens((m.content for m in request.messages), request.model, tokenizers=tokenizers)
    info = lookup(request.model)
    if info is None:
        return prompt
    counted = prompt if is_exact(request.model, tokenizers) else int(prompt * ESTIMATE_MARGIN)
    if counted + (request.max_tokens or 0) > info.context:
        answer = f" and max_tokens {request.max_tokens}" if request.max_tokens else ""
        raise LlmContextExceeded(f"a prompt of about {prompt} tokens{answer} does not fit the "
                                 f"{info.context}-token context of model {request.model}")
    return prompt


def _boto_region(provider: Backend) -> str | None:
    """bedrock: the region boto3 would pick itself (its variables, its profile), so that the cache key
    names the region the call really goes to."""
    if provider.key_variable is not None:
        return None
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        region: str | None = boto3.session.Session().region_name
    except BotoCoreError as exc:  # a profile that does not exist, a config file that does not parse
        raise LlmRequestRefused(f"bedrock cannot be called: its AWS configuration is wrong "
                                f"({type(exc).__name__})") from None
    return region


def _key(options: Mapping[str, Any], provider: Backend, settings: Settings, *, own: bool, tenant: str,
         automation: str | None) -> str | None:
    value = options.get("api_key")
    if value is None and own and settings.llm_api_key is not None:
        value = settings.llm_api_key.get_secret_value()
    if value is not None:
        if provider.key_variable is None:
            raise UsageError(f"{provider.name} takes boto3's AWS credentials, not an api_key")
        if not isinstance(value, str) or not value.strip() or len(value) > 4096:
            raise UsageError("api_key must be a non-empty string (a key or a secret reference)")
        if REFERENCE.fullmatch(value.strip()):
            value = resolve(value.strip(), tenant=tenant, settings=settings,
                            reader=Reader(automation=automation, connector="llm"))
        return _usable(value, provider, "the api_key")
    if provider.key_variable is None:
        return None
    found = os.environ.get(provider.key_variable)
    if not found:
        raise LlmKeyMissing(f"no key for {provider.name}: give api_key, set AUTOMATE_LLM_API_KEY (for "
                            f"AUTOMATE_LLM_PROVIDER={provider.name}) or {provider.key_variable}")
    return _usable(found, provider, provider.key_variable)


def _usable(key: Any, provider: Backend, source: str) -> str:
    """``key`` if it can go in an HTTP header as is: printable ASCII, no whitespace. Anything else would
    fail inside the HTTP client with an error quoting the header (the key): refused here, unquoted."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise LlmKeyMissing(f"{source} for {provider.name} is not a usable key: a key is 1 to 4096 printable "
                            f"ASCII characters without spaces or control characters")
    return key


def _base_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"^https?://[^\s]{1,2040}$", value):
        raise UsageError("a base URL must be an http:// or https:// URL")
    return value


def _number(value: Any, default: float, name: str, low: float, high: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise UsageError(f"{name} must be a number from {low} to {high}")
    return float(value)


def _destination(provider: Backend, target: Target) -> str:
    """Where the call goes, for the cache key: the same request to another server is another answer."""
    if provider.base_url_variable is None:
        return f"region={target.region};endpoint={target.endpoint_url}"
    return target.base_url or os.environ.get(provider.base_url_variable) or "default"
