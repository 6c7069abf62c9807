"""The providers, one module each behind :class:`~automate_llm.providers.base.Backend`; adding one is a
module and a line in :data:`PROVIDERS` (the SDKs are imported only when a provider is called)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from automate.errors import UnknownProvider
from automate_llm.providers.anthropic import AnthropicBackend
from automate_llm.providers.base import Backend
from automate_llm.providers.bedrock import BedrockBackend
from automate_llm.providers.openai import OpenAIBackend

__all__ = ["PROVIDERS", "backend"]

PROVIDERS: Mapping[str, Callable[[], Backend]] = {
    "openai": OpenAIBackend,
    "anthropic": AnthropicBackend,
    "bedrock": BedrockBackend,
}


def backend(name: str) -> Backend:
    """The provider called ``name``.

    Raises:
        UnknownProvider: No such provider.
    """
    factory = PROVIDERS.get(name) if isinstance(name, str) else None
    if factory is None:
        raise UnknownProvider(f"no LLM provider {str(name)[:64]!r}: use one of "
                              f"{', '.join(sorted(PROVIDERS))}")
    return factory()
