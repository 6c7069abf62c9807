"""LLM calls: ``chat``, ``achat``, ``count_tokens``, ``get_provider`` (being built: issue 15)."""

from __future__ import annotations

__all__: list[str] = []
