"""Embedders behind one small Protocol, one module each; a registry line per kind.

Embedders are expensive to make (a model loaded, an HTTP client with its pool), so each is made once per
process and configuration and kept (the only process-wide state of ``rag``, guarded by a lock). An
embedder whose configuration names a key is kept at most ``KEY_TTL_S`` seconds, so a rotated secret is
picked up without a restart.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from automate.config import Settings
from automate.errors import RagDimensionMismatch, RagEndpointInvalid
from rag.config import EmbedderConfig

__all__ = ["EMBEDDER_MODULES", "KEY_TTL_S", "Embedder", "check_vectors", "clear_embedders", "embedder_for"]

KEY_TTL_S = 300.0

EMBEDDER_MODULES: dict[str, str] = {
    "wordllama": "rag.embedders.wordllama:WordLlamaEmbedder",
    "openai": "rag.embedders.openai:OpenAIEmbedder",
}


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors (cosine similarity is then their dot product)."""

    @property
    def dimension(self) -> int | None:
        """The vectors' dimension, when known before the first call."""

    def embed(self, texts: Sequence[str]) -> Any:
        """A ``(len(texts), dimension)`` float32 numpy array of unit vectors.

        Raises:
            RagUnavailable: The model or server failed (retryable).
            RagEndpointInvalid: The server refused the configuration (a bad model or key).
        """


_cache: dict[tuple[EmbedderConfig, str], tuple[Embedder, float]] = {}
_lock = threading.Lock()


def embedder_for(config: EmbedderConfig, *, tenant: str, settings: Settings) -> Embedder:
    """The process's embedder for ``config`` (made on first use)."""
    key = (config, tenant if config.api_key else "")
    now = time.monotonic()
    with _lock:
        found = _cache.get(key)
        if found is not None and found[1] > now:
            return found[0]
        spec = EMBEDDER_MODULES.get(config.kind)
        if spec is None:
            raise RagEndpointInvalid(f"unknown embedder {config.kind!r}")
        module, name = spec.split(":")
        factory = getattr(importlib.import_module(module), name)
        made: Embedder = factory(config, tenant=tenant, settings=settings)
        _cache[key] = (made, now + KEY_TTL_S if config.api_key else float("inf"))
        return made


def clear_embedders() -> None:
    """Forget every embedder (tests, and after a key's rotation when waiting is not an option)."""
    with _lock:
        _cache.clear()


def check_vectors(vectors: Any, count: int, expected: int | None, what: str) -> Any:
    """``vectors`` if it has ``count`` rows of ``expected`` (when known) dimensions, as unit float32.

    Raises:
        RagDimensionMismatch: Another dimension.
        RagUnavailable: Another number of rows (a server answering nonsense).
    """
    import numpy as np

    from automate.errors import RagUnavailable

    if isinstance(vectors, list):  # rows of differing lengths make no array (numpy's ValueError)
        lengths = {len(row) if isinstance(row, (list, tuple)) else -1 for row in vectors}
        if len(lengths) > 1 or -1 in lengths:
            raise RagDimensionMismatch(f"{what} answered vectors of differing lengths")
    try:
        array = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError):
        raise RagUnavailable(f"{what} answered something that is not vectors of numbers") from None
    if array.ndim != 2 or array.shape[0] != count:
        rows = array.shape[0] if array.ndim else 0
        raise RagUnavailable(f"{what} answered {rows} vectors for {count} texts")
    if expected is not None and array.shape[1] != expected:
        raise RagDimensionMismatch(f"{what} gives {array.shape[1]}-dimension vectors, the endpoint expects "
                                   f"{expected}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1.0, norms)
