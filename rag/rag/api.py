"""``index_documents``, ``query``, ``delete_documents`` and ``describe_endpoint``: the library calls
(and, through ``rag.connector``, the ``rag.index`` and ``rag.query`` steps).

``index_documents`` checks every document, reads the endpoint's configuration in a short transaction,
chunks and embeds everything with no database connection held, then opens a second short transaction
that creates the endpoint if it is unknown (insert-or-get, the row held ``FOR SHARE``) and makes the one
store write. An endpoint this call created is taken back with its data when the write or the commit
fails. Index maintenance (LanceDB) runs after the commit, best effort.
``query`` costs one endpoint lookup in Postgres, one embedding and one store search; the embedder and the
opened store are kept per process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from automate.config import Settings, get_settings
from automate.errors import RagDocumentInvalid, RagError, RagUnavailable
from rag.chunking import chunk_text
from rag.config import EndpointConfig, check_slug, endpoint_config
from rag.documents import check_documents
from rag.embedders import embedder_for
from rag.endpoints import Endpoint, get_endpoint, get_or_create, lookup, transaction, writing
from rag.filters import check_filter, check_text
from rag.stores import Chunk, StoreStats, VectorStore, open_store

__all__ = ["MAX_CHUNKS", "MAX_QUERY", "MAX_TOP_K", "EndpointStats", "delete_documents", "describe_endpoint",
           "index_documents", "query"]

MAX_TOP_K = 100
MAX_QUERY = 10_000  # characters of a query's text
MAX_CHUNKS = 100_000  # per index_documents call
_log = logging.getLogger("automate.rag")
_OVERFETCH = 4  # chunks asked per result wanted, so that several chunks of one document still leave top_k


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointStats:
    """An endpoint and what its store holds (``automate rag show``)."""

    endpoint: Endpoint
    store: StoreStats


def index_documents(endpoint: str, documents: Sequence[Mapping[str, Any]], *, tenant: str | None = None,
                    settings: Settings | None = None) -> int:
    """Index ``documents`` into ``endpoint`` (created with the settings' defaults if unknown); a document
    indexed again has its chunks replaced.

    Args:
        endpoint: The endpoint's slug.
        documents: 1-2,000 of ``{"id": str, "content": str, "metadata": {...}}``; metadata values are
            strings, numbers, booleans or lists of strings.
        tenant: Default: the settings' tenant.
        settings: Default: the process's.

    Returns:
        The number of documents indexed.

    Raises:
        RagDocumentInvalid: A document is malformed (nothing is written).
        RagEndpointInvalid: A bad slug, or the endpoint's configuration cannot work.
        RagDimensionMismatch: The embedder's vectors do not fit the endpoint's index.
        RagUnavailable: The embedder or the store failed (retryable; nothing is written on LanceDB).
    """
    settings = settings or get_settings()
    tenant = tenant or settings.tenant
    check_slug(endpoint)
    docs = check_documents(documents)
    known = lookup(endpoint, tenant, settings)
    config = known.config if known is not None else endpoint_config(None, settings=settings)
    for _attempt in range(2):
        chunks = _chunks(docs, config)
        vectors = embedder_for(config.embedder, tenant=tenant, settings=settings).embed(
            [c.content for c in chunks])
        outcome = _write(endpoint, tenant, settings, config, [d.id for d in docs], chunks, vectors)
        if isinstance(outcome, EndpointConfig):  # a concurrent creator stored another configuration
            config = outcome
            continue
        _log.info("indexed %d documents (%d chunks) into %s", len(docs), len(chunks), endpoint,
                  extra={"action": "rag.indexed", "tenant": tenant, "endpoint": endpoint,
                         "endpoint_created": outcome[1], "documents": len(docs), "chunks": len(chunks)})
        outcome[0].maintain()  # after the commit: no connection held through an index build
        return len(docs)
    raise RagUnavailable(f"endpoint {endpoint}'s configuration changed during the call: try again")


def _chunks(docs: Sequence[Any], config: EndpointConfig) -> list[Chunk]:
    chunks: list[Chunk] = []
    for doc in docs:
        chunks.extend(Chunk(doc=doc.id, n=n, content=text, metadata=doc.metadata)
                      for n, text in enumerate(chunk_text(doc.content, config.chunk_size,
                                                          config.chunk_overlap)))
        if len(chunks) > MAX_CHUNKS:
            raise RagDocumentInvalid(f"the documents make more than {MAX_CHUNKS} chunks: index fewer per "
                                     "call")
    return chunks


def _write(endpoint: str, tenant: str, settings: Settings, config: EndpointConfig, doc_ids: list[str],
           chunks: list[Chunk], vectors: Any) -> tuple[VectorStore, bool] | EndpointConfig:
    """The store write in a short transaction that also creates the endpoint when unknown: the store and
    whether the endpoint was created, or the configuration found when it is not ``config`` (nothing
    written)."""
    created = False
    written = False
    store: VectorStore | None = None
    found: Endpoint | None = None
    try:
        with transaction(settings) as conn:
            found, created = get_or_create(conn, endpoint, tenant, settings, config)
            if found.config != config:
                return found.config
            store = open_store(found, settings=settings)
            store.replace(doc_ids, chunks, vectors)
            written = True
        return store, created
    except BaseException:
        if created and store is not None and found is not None:
            _take_back(found, store, settings, committed_maybe=written)
        raise


def _take_back(found: Endpoint, store: VectorStore, settings: Settings, *, committed_maybe: bool) -> None:
    """Remove the data of an endpoint this call created and whose row did not commit. The row's insert
    was this call's, uncommitted: no other call could write under its id. When the failure came at the
    commit itself, the row is looked up first: its data is dropped only when the row is certainly not
    there."""
    try:
        if committed_maybe:
            again = lookup(found.slug, found.tenant, settings)
            if again is not None and again.id == found.id:
                return
        store.drop()
    except Exception as exc:
        _log.warning("the data of an endpoint that was not created stays (%s)", type(exc).__name__,
                     extra={"action": "rag.orphan_data", "tenant": found.tenant, "endpoint_id": found.id})


def query(endpoint: str, query_text: str, top_k: int = 5, filters: Mapping[str, Any] | None = None, *,
          tenant: str | None = None, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The documents of ``endpoint`` nearest to ``query_text``, best first.

    Args:
        endpoint: The endpoint's slug.
        query_text: 1-10,000 characters.
        top_k: How many documents (1-100); each appears once, with its best-matching chunk.
        filters: Metadata filter (see ``rag.filters``: ``{"category": "authentication"}``,
            ``{"year": {"$gte": 2020}}``, ``$and``/``$or``...).
        tenant: Default: the settings' tenant.
        settings: Default: the process's.

    Returns:
        ``[{"id", "content", "score", "metadata"}]``: the document's id, its chunk's text, the cosine
        similarity (higher: nearer), the document's metadata.

    Raises:
        RagEndpointNotFound: No such endpoint (query never creates one).
        RagFilterInvalid: A filter outside the syntax.
        RagError: A bad query text or top_k.
        RagUnavailable: The embedder or the store failed (retryable).
    """
    settings = settings or get_settings()
    if not isinstance(query_text, str) or not query_text.strip() or len(query_text) > MAX_QUERY:
        raise RagError(f"query_text must be a non-blank string of at most {MAX_QUERY} characters")
    check_text(query_text, "query_text", RagError)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise RagError(f"top_k must be an integer from 1 to {MAX_TOP_K}")
    checked = check_filter(filters)
    found = get_endpoint(endpoint, tenant=tenant, settings=settings)
    embedder = embedder_for(found.config.embedder, tenant=found.tenant, settings=settings)
    vector = embedder.embed([query_text])[0]
    hits = open_store(found, settings=settings).search(vector, top_k * _OVERFETCH, checked)
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    for hit in hits:
        if hit.doc in seen:
            continue
        seen.add(hit.doc)
        results.append({"id": hit.doc, "content": hit.content, "score": hit.score, "metadata": hit.metadata})
        if len(results) == top_k:
            break
    return results


def delete_documents(endpoint: str, ids: Sequence[str], *, tenant: str | None = None,
                     settings: Settings | None = None) -> None:
    """Remove every chunk of documents ``ids`` from ``endpoint`` (ids it does not hold are ignored).

    Raises:
        RagEndpointNotFound: No such endpoint.
        RagDocumentInvalid: ``ids`` is not a list of ids.
    """
    if isinstance(ids, str) or not all(isinstance(i, str) and i for i in ids):
        raise RagDocumentInvalid("ids must be a list of document ids")
    for each in ids:
        check_text(each, "an id", RagDocumentInvalid)
    settings = settings or get_settings()
    tenant = tenant or settings.tenant
    check_slug(endpoint)
    with writing(endpoint, tenant, settings) as found:  # a concurrent delete_endpoint waits for us
        open_store(found, settings=settings).delete(list(ids))


def describe_endpoint(endpoint: str, *, tenant: str | None = None, settings: Settings | None = None
                      ) -> EndpointStats:
    """Endpoint ``endpoint`` with its chunk and document counts.

    Raises:
        RagEndpointNotFound: No such endpoint.
    """
    found = get_endpoint(endpoint, tenant=tenant, settings=settings)
    return EndpointStats(endpoint=found, store=open_store(found, settings=settings or get_settings()).stats())
