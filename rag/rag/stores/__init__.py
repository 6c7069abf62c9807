"""Vector stores behind one small Protocol, one module each; a registry line per kind.

A store keeps an endpoint's chunks (id ``<doc id>#<n>``, the document's id, the chunk's text, the
document's metadata, the vector) and answers nearest-neighbour searches under a filter of the one syntax
(``rag.filters``). Opened stores (an open LanceDB table, a Pinecone client) are kept per process and
endpoint, guarded by a lock.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from automate.config import Settings
from automate.errors import RagEndpointInvalid

if TYPE_CHECKING:
    from rag.endpoints import Endpoint

__all__ = ["STORE_MODULES", "Chunk", "Hit", "StoreStats", "VectorStore", "clear_stores", "forget_store",
           "open_store", "tenant_folder"]

STORE_MODULES: dict[str, str] = {
    "lancedb": "rag.stores.lancedb:LanceStore",
    "pinecone": "rag.stores.pinecone:PineconeStore",
}
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def tenant_folder(tenant: str) -> str:
    """A tenant's name where it is safe in a path or a namespace, else ``t-`` and its hash."""
    return tenant if _TENANT.fullmatch(tenant) else "t-" + hashlib.sha256(tenant.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    """The ``n``-th chunk of document ``doc``."""

    doc: str
    n: int
    content: str
    metadata: Mapping[str, Any]

    @property
    def id(self) -> str:
        return f"{self.doc}#{self.n}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """A chunk found: its document, text, metadata, and cosine similarity to the query (higher: nearer)."""

    doc: str
    content: str
    score: float
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreStats:
    chunks: int
    documents: int | None  # None when the store cannot count them cheaply
    dimension: int | None
    index: str  # what answers queries: "exact", an index type, "server"


class VectorStore(Protocol):
    def replace(self, doc_ids: Sequence[str], chunks: Sequence[Chunk], vectors: Any) -> None:
        """Make ``chunks`` the only chunks of documents ``doc_ids`` (others untouched).

        Raises:
            RagDimensionMismatch: The vectors' dimension is not the index's.
            RagUnavailable: The store failed; see each store for what is then left.
        """

    def delete(self, doc_ids: Sequence[str]) -> None:
        """Remove every chunk of documents ``doc_ids``."""

    def search(self, vector: Any, limit: int, filters: Mapping[str, Any] | None) -> list[Hit]:
        """The ``limit`` nearest chunks matching ``filters`` (checked already), nearest first."""

    def stats(self) -> StoreStats: ...

    def drop(self) -> None:
        """Remove all of the endpoint's data."""

    def maintain(self) -> None:
        """Best-effort upkeep after a committed write (LanceDB's index); never raises."""


_open: dict[tuple[str, str], tuple[Any, VectorStore, float]] = {}
_KEY_TTL_S = 300.0  # a store whose configuration names a key is made again after this (a rotated secret)
_lock = threading.Lock()


def open_store(endpoint: Endpoint, *, settings: Settings) -> VectorStore:
    """The process's store of ``endpoint`` (opened on first use)."""
    key = (endpoint.tenant, endpoint.id)
    config = endpoint.config.store
    now = time.monotonic()
    with _lock:
        found = _open.get(key)
        if found is not None and found[0] == config and found[2] > now:
            return found[1]
        spec = STORE_MODULES.get(config.kind)
        if spec is None:
            raise RagEndpointInvalid(f"unknown store {config.kind!r}")
        module, name = spec.split(":")
        made: VectorStore = getattr(importlib.import_module(module), name)(endpoint, settings=settings)
        _open[key] = (config, made, now + _KEY_TTL_S if config.api_key else float("inf"))
        return made


def forget_store(tenant: str, endpoint_id: str) -> None:
    """Forget the opened store of an endpoint (it was dropped)."""
    with _lock:
        _open.pop((tenant, endpoint_id), None)


def clear_stores() -> None:
    """Forget every opened store (tests)."""
    with _lock:
        _open.clear()
