"""``wordllama``: the offline default embedder (weights and tokenizer inside its wheel); 64, 128 or 256
dimensions: ``l2_supercat`` is trained matryoshka-style, so its first 64 or 128 dimensions (WordLlama's
``trunc_dim``) are an embedding of their own.

``WordLlama.load()`` alone would try to download the tokenizer; pointing ``cache_dir`` at the installed
package's own folder with ``disable_download=True`` loads everything from the wheel, so a fresh machine
without network embeds. One model per process (loading takes about half a second), shared by threads:
its ``embed`` is a pure numpy computation over read-only weights.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from automate.config import Settings
from automate.errors import RagEndpointInvalid, RagUnavailable
from rag.config import WORDLLAMA_DIMENSIONS, EmbedderConfig

__all__ = ["DIMENSION", "WordLlamaEmbedder"]

DIMENSION = 256  # the model's full dimension
_models: dict[int, Any] = {}
_lock = threading.Lock()


def _import_quietly() -> Any:
    """``import wordllama`` with the root logger as it was: the package calls
    ``logging.basicConfig(level=INFO)`` on import (``__init__``, ``inference``), which would add a stderr
    handler to the host process's root logger and lower its level."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama
        import wordllama.inference
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return wordllama


def _load(dimension: int) -> Any:
    with _lock:
        if dimension not in _models:
            failed = ""
            try:
                wordllama = _import_quietly()
                WordLlama = wordllama.WordLlama

                _models[dimension] = WordLlama.load(
                    cache_dir=Path(wordllama.__file__).parent, disable_download=True, dim=DIMENSION,
                    trunc_dim=None if dimension == DIMENSION else dimension)
            except Exception as exc:  # a broken install: no weights, no tokenizer
                failed = type(exc).__name__
            if dimension not in _models:
                raise RagUnavailable(f"the wordllama model did not load ({failed})")
        return _models[dimension]


class WordLlamaEmbedder:
    """Embeds with WordLlama's ``l2_supercat`` model, offline."""

    def __init__(self, config: EmbedderConfig, *, tenant: str, settings: Settings) -> None:
        if config.dimension not in WORDLLAMA_DIMENSIONS:  # the configuration's parser refuses others
            raise RagEndpointInvalid(f"wordllama gives {WORDLLAMA_DIMENSIONS} dimensions")
        self._dimension = int(config.dimension)
        self._model = _load(self._dimension)

    @property
    def dimension(self) -> int | None:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Any:
        from rag.embedders import check_vectors

        vectors = self._model.embed(list(texts), norm=True, return_np=True, batch_size=256)
        return check_vectors(vectors, len(texts), self._dimension, "wordllama")
