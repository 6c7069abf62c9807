"""``get_provider(name)``: a provider bound to its name, for code that picks one explicitly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from automate.errors import UsageError
from automate_llm import client
from automate_llm.providers import backend

__all__ = ["LLMProvider", "get_provider"]


@dataclass(frozen=True, slots=True)
class LLMProvider:
    """One provider; its methods are :mod:`automate_llm`'s with ``provider=`` set.

    Attributes:
        name: ``openai``, ``anthropic`` or ``bedrock``.
        defaults: Options every call gets unless it gives its own (``model``, ``api_key``...).
    """

    name: str
    defaults: dict[str, Any]

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        if options.get("provider", self.name) != self.name:
            raise UsageError(f"this provider is {self.name}; use get_provider() for another")
        return {**self.defaults, **options, "provider": self.name}

    def chat(self, messages: Any = None, /, **options: Any) -> str:
        """The answer's text (see :func:`automate_llm.chat`)."""
        return client.chat(messages, **self._options(options))

    async def achat(self, messages: Any = None, /, **options: Any) -> str:
        """Async twin of :meth:`chat`."""
        return await client.achat(messages, **self._options(options))

    def complete(self, messages: Any = None, /, **options: Any) -> client.ChatResult:
        """Everything about the answer (see :func:`automate_llm.complete`)."""
        return client.complete(messages, **self._options(options))

    async def acomplete(self, messages: Any = None, /, **options: Any) -> client.ChatResult:
        """Async twin of :meth:`complete`."""
        return await client.acomplete(messages, **self._options(options))

    def stream(self, messages: Any = None, /, **options: Any) -> Iterator[str]:
        """The answer in pieces (see :func:`automate_llm.stream`)."""
        return client.stream(messages, **self._options(options))

    def astream(self, messages: Any = None, /, **options: Any) -> AsyncIterator[str]:
        """Async twin of :meth:`stream`."""
        return client.astream(messages, **self._options(options))


def get_provider(name: str, **defaults: Any) -> LLMProvider:
    """The provider called ``name`` (``openai``, ``anthropic``, ``bedrock``), with ``defaults`` for each
    of its calls (``get_provider("openai", model="gpt-4o-mini")``).

    Raises:
        UnknownProvider: No such provider.
    """
    backend(name)
    if "provider" in defaults:
        raise UsageError("get_provider names the provider itself")
    return LLMProvider(name, dict(defaults))
