"""LLM calls: ``chat``, ``achat``, ``count_tokens``, ``get_provider`` (the seed's API), and what is
around them: ``complete`` (the answer with its parsed JSON, usage, cost, cache flag), ``stream``, budgets.

Providers: ``openai`` (and any OpenAI-compatible server through a base URL), ``anthropic``, ``bedrock``.
See docs/llm.md. Importing this package imports no SDK: each provider imports its own when called.
"""

from __future__ import annotations

from automate_llm.budgets import Budget, delete_budget, list_budgets, set_budget, usage
from automate_llm.client import ChatResult, achat, acomplete, astream, chat, complete, stream
from automate_llm.provider import LLMProvider, get_provider
from automate_llm.providers import PROVIDERS
from automate_llm.tokens import count_tokens

__all__ = [
    "PROVIDERS",
    "Budget",
    "ChatResult",
    "LLMProvider",
    "achat",
    "acomplete",
    "astream",
    "chat",
    "complete",
    "count_tokens",
    "delete_budget",
    "get_provider",
    "list_budgets",
    "set_budget",
    "stream",
    "usage",
]
