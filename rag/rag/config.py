"""An endpoint's configuration: chunking, embedder and vector store, validated once, frozen.

The configuration is what ``rag_endpoint.config`` holds (a JSON object) and what ``create_endpoint`` and
``automate rag create`` take. A credential appears only as a secret reference (``$secret:KEY``,
``$env:VAR``...), resolved at the moment of use: a key is never stored in Postgres.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from automate.config import Settings
from automate.errors import RagEndpointInvalid

__all__ = ["EMBEDDERS", "LANCEDB_INDEXES", "SLUG", "STORES", "WORDLLAMA_DIMENSION", "WORDLLAMA_DIMENSIONS",
           "EmbedderConfig", "EndpointConfig", "StoreConfig", "check_slug", "endpoint_config"]

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
EMBEDDERS = ("wordllama", "openai")
WORDLLAMA_DIMENSIONS = (64, 128, 256)  # l2_supercat's matryoshka truncations (WordLlama's trunc_dim)
WORDLLAMA_DIMENSION = 256  # the default: see docs/rag.md (the best recall at 100,000 chunks)
STORES = ("lancedb", "pinecone")
LANCEDB_INDEXES = ("auto", "exact", "ivf_pq", "ivf_hnsw_sq")
MAX_CHUNK_SIZE = 8_000  # characters: a chunk's text fits Pinecone's 40 KB of metadata per vector
MIN_CHUNK_SIZE = 16
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
_URL = re.compile(r"^https?://[^\s]{1,500}$")
_STORE_FIELDS = {"lancedb": {"kind", "index", "index_min_rows", "nprobes", "refine_factor", "ef"},
                 "pinecone": {"kind", "host", "api_key", "namespace"}}
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbedderConfig:
    """Which embedder turns text into vectors.

    Attributes:
        kind: ``wordllama`` (offline, 64, 128 or 256 dimensions) or ``openai`` (any OpenAI-compatible
            server).
        model: The embeddings model (openai; default ``text-embedding-3-small``).
        dimension: The vectors' dimension; checked against every answer (openai; wordllama: 64, 128
            or 256 (default)).
        base_url: The server (openai; default: the SDK's, or ``OPENAI_BASE_URL``).
        api_key: A secret reference to the key (openai; default: the SDK's ``OPENAI_API_KEY``, only when
            no ``base_url`` is set: a ``base_url`` requires an ``api_key`` reference).
    """

    kind: str = "wordllama"
    model: str | None = None
    dimension: int | None = None
    base_url: str | None = None
    api_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    """Where the vectors live.

    Attributes:
        kind: ``lancedb`` (embedded, under ``AUTOMATE_HOME``) or ``pinecone``.
        index: lancedb: ``auto`` (an approximate IVF_HNSW_SQ index once the table has ``index_min_rows``
            chunks, exact search below), ``exact`` (never an index: brute force, recall 1), or an index
            type forced (``ivf_pq``, ``ivf_hnsw_sq``) from ``index_min_rows`` on.
        index_min_rows: lancedb: the table size from which the approximate index is built.
        nprobes: lancedb: IVF partitions searched per query (more: better recall, slower).
        refine_factor: lancedb: candidates re-ranked with exact distances, as a multiple of top_k.
        ef: lancedb, IVF_HNSW_SQ: candidates the graph search keeps (more: better recall, slower); at
            least the candidates asked (limit x refine_factor), which LanceDB requires.
        host: pinecone: the index's data-plane host (``https://<index>-<project>.svc...``).
        api_key: pinecone: a secret reference to the key.
        namespace: pinecone: a suffix; the namespace is ``<tenant folder>.<namespace>``, by default
            ``<tenant folder>.<endpoint id>`` (``rag.stores.pinecone.pinecone_namespace``).
    """

    kind: str = "lancedb"
    index: str = "auto"
    index_min_rows: int = 20_000
    nprobes: int = 24
    refine_factor: int = 4
    ef: int = 640
    host: str | None = None
    api_key: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointConfig:
    """An endpoint's whole configuration (``rag_endpoint.config``)."""

    chunk_size: int
    chunk_overlap: int
    embedder: EmbedderConfig
    store: StoreConfig

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in Postgres: unset fields left out."""
        return {"chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap,
                "embedder": {k: v for k, v in asdict(self.embedder).items() if v is not None},
                "store": {k: v for k, v in asdict(self.store).items()
                          if v is not None and k in _STORE_FIELDS[self.store.kind]}}


def check_slug(slug: object) -> str:
    """``slug`` if it names an endpoint: 1-63 of a-z, 0-9, ``_``, ``-``, starting with a letter or digit.

    Raises:
        RagEndpointInvalid: It does not.
    """
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise RagEndpointInvalid(f"{str(slug)[:80]!r} is not an endpoint slug: 1-63 of a-z, 0-9, '_', '-'")
    return slug


def endpoint_config(raw: Mapping[str, Any] | None = None, *, settings: Settings, **overrides: Any
                    ) -> EndpointConfig:
    """The validated configuration from ``raw`` (stored JSON) and ``overrides`` (``chunk_size``,
    ``chunk_overlap``, ``embedder``, ``store``: a kind's name or a mapping), the settings' defaults for
    what neither gives.

    Raises:
        RagEndpointInvalid: An unknown embedder, store or field; bad chunking; a credential that is not a
            secret reference.
    """
    merged: dict[str, Any] = dict(raw or {})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(merged) - {"chunk_size", "chunk_overlap", "embedder", "store"}
    if unknown:
        raise RagEndpointInvalid(f"unknown endpoint settings: {sorted(unknown)}")
    size = _integer(merged.get("chunk_size", settings.rag_chunk_size), "chunk_size", MIN_CHUNK_SIZE,
                    MAX_CHUNK_SIZE)
    overlap = _integer(merged.get("chunk_overlap", settings.rag_chunk_overlap), "chunk_overlap", 0,
                       MAX_CHUNK_SIZE)
    if overlap >= size // 2 + 1:
        raise RagEndpointInvalid(f"chunk_overlap ({overlap}) must be at most half of chunk_size ({size})")
    return EndpointConfig(chunk_size=size, chunk_overlap=overlap,
                          embedder=_embedder(merged.get("embedder", settings.rag_embedder)),
                          store=_store(merged.get("store", settings.rag_store)))


def _section(value: Any, what: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    section: dict[str, Any] | None = (
        {"kind": value} if isinstance(value, str) else dict(value) if isinstance(value, Mapping) else None)
    if section is None:
        raise RagEndpointInvalid(f"{what} must be a kind's name or an object")
    if section.get("kind", kinds[0]) not in kinds:
        raise RagEndpointInvalid(f"unknown {what} {str(section.get('kind'))[:40]!r}: one of "
                                 f"{', '.join(kinds)}")
    return section


def _embedder(value: Any) -> EmbedderConfig:
    section = _section(value, "embedder", EMBEDDERS)
    unknown = set(section) - {"kind", "model", "dimension", "base_url", "api_key"}
    if unknown:
        raise RagEndpointInvalid(f"unknown embedder settings: {sorted(unknown)}")
    kind = str(section.get("kind", "wordllama"))
    model = _optional(section.get("model"), "embedder model", _MODEL)
    dimension = section.get("dimension")
    if dimension is not None:
        dimension = _integer(dimension, "embedder dimension", 1, 16_384)
    if kind == "wordllama":
        if model not in (None, "l2_supercat") or dimension not in (None, *WORDLLAMA_DIMENSIONS) \
                or section.get("base_url") or section.get("api_key"):
            raise RagEndpointInvalid("the wordllama embedder takes only a dimension: "
                                     f"{', '.join(map(str, WORDLLAMA_DIMENSIONS))} (model l2_supercat)")
        return EmbedderConfig(kind=kind, model="l2_supercat", dimension=dimension or WORDLLAMA_DIMENSION)
    base_url = _optional(section.get("base_url"), "embedder base_url", _URL)
    api_key = _reference(section.get("api_key"), "embedder api_key")
    if base_url is not None and api_key is None:  # else the SDK would send OPENAI_API_KEY to that host
        raise RagEndpointInvalid("an openai embedder with a base_url needs its own api_key reference "
                                 "(the process's OPENAI_API_KEY is never sent to another host)")
    return EmbedderConfig(kind=kind, model=model or "text-embedding-3-small", dimension=dimension,
                          base_url=base_url, api_key=api_key)


def _store(value: Any) -> StoreConfig:
    section = _section(value, "store", STORES)
    unknown = set(section) - {"kind", "index", "index_min_rows", "nprobes", "refine_factor", "ef", "host",
                              "api_key", "namespace"}
    if unknown:
        raise RagEndpointInvalid(f"unknown store settings: {sorted(unknown)}")
    kind = str(section.get("kind", "lancedb"))
    if kind == "lancedb":
        if {"host", "api_key", "namespace"} & set(section):
            raise RagEndpointInvalid("the lancedb store takes index, index_min_rows, nprobes, refine_factor, "
                                     "ef")
        index = section.get("index", "auto")
        if index not in LANCEDB_INDEXES:
            raise RagEndpointInvalid(f"unknown lancedb index {str(index)[:40]!r}: one of "
                                     f"{', '.join(LANCEDB_INDEXES)}")
        return StoreConfig(kind=kind, index=str(index),
                           index_min_rows=_integer(section.get("index_min_rows", 20_000), "index_min_rows",
                                                   256, 100_000_000),
                           nprobes=_integer(section.get("nprobes", 24), "nprobes", 1, 10_000),
                           refine_factor=_integer(section.get("refine_factor", 4), "refine_factor", 0, 100),
                           ef=_integer(section.get("ef", 640), "ef", 1, 100_000))
    if {"index", "index_min_rows", "nprobes", "refine_factor", "ef"} & set(section):
        raise RagEndpointInvalid("the pinecone store takes host, api_key, namespace")
    host = _optional(section.get("host"), "pinecone host", _URL)
    if host is None:
        raise RagEndpointInvalid("the pinecone store needs its index's host (https://...)")
    namespace = _optional(section.get("namespace"), "pinecone namespace", _NAMESPACE)
    if namespace is not None and _UUID.fullmatch(namespace):  # the shape of default namespaces' suffix
        raise RagEndpointInvalid("a pinecone namespace cannot have the shape of an endpoint id (a uuid)")
    return StoreConfig(kind=kind, host=host, api_key=_reference(section.get("api_key"), "pinecone api_key"),
                       namespace=namespace)


def _integer(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RagEndpointInvalid(f"{what} must be an integer from {low} to {high}")
    return value


def _optional(value: Any, what: str, shape: re.Pattern[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not shape.fullmatch(value):
        raise RagEndpointInvalid(f"{what} has not the expected shape")
    return value


def _reference(value: Any, what: str) -> str | None:
    """A credential as a secret reference only: a literal key would be stored in Postgres."""
    from automate.secrets.references import REFERENCE

    if value is None:
        return None
    if not isinstance(value, str) or not REFERENCE.fullmatch(value.strip()):
        raise RagEndpointInvalid(f"{what} must be a secret reference ($secret:KEY, $env:VAR, ...), "
                                 "never the key itself")
    return value.strip()
