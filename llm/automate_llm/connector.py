"""``llm``: the ``llm.chat`` workflow step, a chat call through :func:`automate_llm.acomplete`.

Input (rendered by the runtime, so messages may be templates of the event and earlier steps)::

    messages     [{"role": "system" | "user" | "assistant", "content": "..."}]   required
    provider     openai | anthropic | bedrock        written out (default: the connection's, the settings')
    model        written out, never templated (metrics are labelled by it)
    temperature, max_tokens, top_p, stop
    schema       a JSON schema: the answer must be a JSON document valid against it (output ``json``)
    cache        true: answer from the response cache when the same request was answered before
    timeout      seconds per attempt; max_retries

Output: ``{"text", "json", "model", "usage": {"input_tokens", "output_tokens"}, "cost_usd", "cached"}``.

Connection (optional): ``{"provider", "api_key": "$secret:OPENAI_KEY", "base_url", "region",
"endpoint_url"}``; without one, the settings' (``AUTOMATE_LLM_*``) and the SDKs' variables apply. A
connection's key and server are for its provider only (its ``provider``, else the settings'): a step
naming another provider fails with a UsageError; a connection with ``base_url`` must have ``api_key``. The
step's automation is the budget charged (``automate llm budget set``); a spent budget stops the step
with ``llm.budget_exceeded``. Errors keep their codes (``llm.unavailable`` is retryable, with the
provider's retry-after).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from automate.config import get_settings
from automate.errors import ErrorCodes, UsageError
from automate_connectors.base import ActionSpec, Connector
from automate_connectors.errors import connector_error
from automate_llm.calls import MAX_RETRIES, MAX_TIMEOUT
from automate_llm.providers import PROVIDERS
from automate_llm.request import LIMITS

__all__ = ["LlmConnector"]

_PROVIDER = {"type": "string", "enum": sorted(PROVIDERS)}
_URL = {"type": "string", "pattern": "^https?://", "maxLength": 2048}
_MESSAGE = {"type": "object", "required": ["role", "content"], "additionalProperties": False,
            "properties": {"role": {"type": "string", "enum": ["system", "user", "assistant"]},
                           "content": {"type": "string", "maxLength": LIMITS.content_chars}}}
_INPUT = {
    "type": "object", "required": ["messages"], "additionalProperties": False,
    "properties": {
        "messages": {"type": "array", "minItems": 1, "maxItems": LIMITS.messages, "items": _MESSAGE},
        "provider": _PROVIDER,
        "model": {"type": "string", "minLength": 1, "maxLength": 200},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": LIMITS.max_tokens},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stop": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": LIMITS.stop_chars},
                           {"type": "array", "minItems": 1, "maxItems": LIMITS.stop_sequences,
                            "items": {"type": "string", "minLength": 1, "maxLength": LIMITS.stop_chars}}]},
        "schema": {"type": "object"},
        "cache": {"type": "boolean"},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT},
        "max_retries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES},
    },
}
_OUTPUT = {
    "type": "object", "required": ["text", "json", "model", "usage", "cost_usd", "cached"],
    "properties": {
        "text": {"type": "string"}, "json": {}, "model": {"type": "string"},
        "usage": {"type": "object", "properties": {"input_tokens": {"type": "integer"},
                                                   "output_tokens": {"type": "integer"}}},
        "cost_usd": {"type": "number"}, "cached": {"type": "boolean"},
    },
}


class LlmConnector(Connector):
    """``llm``: chat calls as workflow steps (``llm.chat``)."""

    key = "llm"
    display_name = "LLM"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "provider": _PROVIDER,
            "api_key": {"type": "string", "x-secret": True, "minLength": 1, "maxLength": 4096,
                        "description": "The provider's key: a $secret: reference."},
            "base_url": {**_URL, "description": "An OpenAI-compatible server, or a proxy."},
            "region": {"type": "string", "maxLength": 64, "description": "bedrock: the AWS region."},
            "endpoint_url": {**_URL, "description": "bedrock: an AWS endpoint."},
        },
        "additionalProperties": False,
    }

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [ActionSpec(name="chat", description="A chat call to an LLM (structured output with schema).",
                           input_schema=_INPUT, output_schema=_OUTPUT, static_fields=("provider", "model"))]

    async def aexecute_action(self, action: str, input_data: dict[str, Any]) -> dict[str, Any]:
        from automate_llm.client import acomplete

        if action != "chat":
            raise connector_error(ErrorCodes.ACTION_UNKNOWN, f"llm has no action {action!r}")
        options = self._connection_options(input_data.get("provider"))
        options.update({k: v for k, v in input_data.items() if k != "messages"})
        if self.ctx is not None:
            options.update(tenant=self.ctx.tenant, automation=self.ctx.automation, settings=self.ctx.settings)
        result = await acomplete(input_data["messages"], **options)
        return result.as_output()

    def _connection_options(self, step_provider: Any) -> dict[str, Any]:
        """The connection's options for a step naming ``step_provider`` (or None).

        A connection's key and server belong to its provider (its ``provider``, else the settings'): a
        step naming another provider is refused rather than sending that key elsewhere. A connection with
        a ``base_url`` must name its ``api_key`` too, so that the worker's own key (``OPENAI_API_KEY``,
        ``AUTOMATE_LLM_API_KEY``) never goes to a server a connection names.

        Raises:
            UsageError: Either of those.
        """
        options: dict[str, Any] = {k: v for k, v in self.config.items() if v is not None}
        if not options:
            return options
        settings = self.ctx.settings if self.ctx is not None else get_settings()
        carries = "api_key" in options or "base_url" in options
        own = options.get("provider") or (settings.llm_provider if carries else None)
        if step_provider is not None and own is not None and step_provider != own:
            raise UsageError(f"the step asks for provider {step_provider} but its connection is for {own}: "
                             f"use a connection of {step_provider}")
        if "base_url" in options and "api_key" not in options:
            raise UsageError("a connection that sets base_url must set api_key too (the worker's own key "
                             "is never sent to a connection's server)")
        if own is not None:
            options["provider"] = own
        return options
