"""Retrieval: ``index_documents`` and ``query`` (being built: issue 15)."""

from __future__ import annotations

__all__: list[str] = []
