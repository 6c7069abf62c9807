"""``pinecone``: an endpoint's chunks in a namespace of a Pinecone index (a dense index created with its
``dimension`` and the ``cosine`` metric), through the pinecone SDK's data plane.

The namespace is ``<tenant folder>.<the endpoint's namespace>`` or ``<tenant folder>.<endpoint id>``
(``pinecone_namespace``): user text is only ever a suffix, and ``create_endpoint`` refuses a
namespace another endpoint of the tenant uses on the same host. A chunk's metadata is the
document's, plus ``_doc``, ``_n`` and ``_content`` (the text: Pinecone keeps no other); user keys start
with a letter, so they never meet these. Filters go to Pinecone as written (the syntax is Pinecone's).

Re-indexing is not one transaction on Pinecone: the call lists the documents' chunk ids, upserts the new
chunks (in requests of at most ``UPSERT_BATCH`` vectors and ``UPSERT_BYTES`` of JSON, well under
Pinecone's 2 MB), then deletes the ids no longer used. Upserting first means that a failure in between
leaves a document with its new chunks and some stale ones (never with none); calling again converges.
When an upsert fails part-way, the call deletes the chunks it wrote for documents the namespace did not
hold before (best effort): those documents are absent again; documents that existed keep whatever mix
of old and new chunks the failed requests left (each is whole again at the next successful call).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from automate.config import Settings
from automate.errors import RagDimensionMismatch, RagEndpointInvalid, RagFilterInvalid, RagUnavailable
from rag.stores import Chunk, Hit, StoreStats, forget_store, tenant_folder

if TYPE_CHECKING:
    from rag.endpoints import Endpoint

__all__ = ["UPSERT_BYTES", "PineconeStore", "pinecone_namespace", "upsert_batches"]

UPSERT_BATCH = 100
UPSERT_BYTES = 1_000_000  # JSON per upsert request: Pinecone refuses more than 2 MB
_log = logging.getLogger("automate.rag")
DELETE_BATCH = 1_000
MAX_LISTED = 1_000_000
T = TypeVar("T")


def pinecone_namespace(tenant: str, endpoint_id: str, suffix: str | None) -> str:
    """An endpoint's Pinecone namespace: ``<tenant folder>.<suffix or endpoint id>``. A tenant folder holds
    no ``.``, so the part before the first ``.`` always names the tenant: no endpoint's configuration can
    reach another tenant's namespace."""
    return f"{tenant_folder(tenant)}.{suffix or endpoint_id}"


def upsert_batches(records: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``records`` in consecutive batches of at most ``UPSERT_BATCH`` records and ``UPSERT_BYTES`` of JSON
    (a record larger than that alone goes alone: Pinecone's own limit per vector is far below)."""
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for record in records:
        each = len(json.dumps(record).encode()) + 2  # ASCII-escaped: an upper bound of the wire size
        if current and (len(current) >= UPSERT_BATCH or size + each > UPSERT_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(record)
        size += each
    if current:
        batches.append(current)
    return batches


class PineconeStore:
    """One endpoint's namespace; the SDK's client made once (the key resolved then)."""

    def __init__(self, endpoint: Endpoint, *, settings: Settings) -> None:
        config = endpoint.config.store
        self._tenant = endpoint.tenant
        self._id = endpoint.id
        self._host = str(config.host)
        self._namespace = pinecone_namespace(endpoint.tenant, endpoint.id, config.namespace)
        self._key_ref = config.api_key
        self._settings = settings
        self._index: Any = None
        self._dimension: int | None = None
        self._lock = threading.Lock()

    def _client(self) -> Any:
        with self._lock:
            if self._index is None:
                from pinecone import Pinecone
                from pinecone.errors import PineconeError

                from automate.secrets import Reader, resolve

                key = None
                if self._key_ref:
                    key = resolve(self._key_ref, tenant=self._tenant, reader=Reader(connector="rag"),
                                  settings=self._settings)
                with contextlib.suppress(PineconeError, ValueError):  # reported below, not chained
                    self._index = Pinecone(api_key=key).Index(host=self._host)
                if self._index is None:
                    raise RagEndpointInvalid("the pinecone store has no usable API key or host: set the "
                                             "endpoint's api_key reference or PINECONE_API_KEY")
            return self._index

    def _call(self, what: str, fn: Callable[[], T], *, filtering: bool = False) -> T:
        from pinecone.errors import ApiError, PineconeError

        # The SDK's exception is not chained to ours, not even as __context__: its message may quote input.
        failure: Exception
        try:
            return fn()
        except ApiError as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            message = f"pinecone {what} answered {status} ({type(exc).__name__})"
            if status == 429 or status >= 500:
                failure = RagUnavailable(message)
            elif status == 400 and filtering:
                failure = RagFilterInvalid(f"pinecone refused the filter ({status})")
            else:
                failure = RagEndpointInvalid(message)
        except PineconeError as exc:
            failure = RagUnavailable(f"pinecone {what} failed ({type(exc).__name__})")
        raise failure

    def _check_dimension(self, dimension: int) -> None:
        if self._dimension is None:
            stats = self._call("describe_index_stats", lambda: self._client().describe_index_stats())
            self._dimension = stats.dimension
        if self._dimension is not None and self._dimension != dimension:
            raise RagDimensionMismatch(f"the embedder gives {dimension}-dimension vectors, the pinecone "
                                       f"index holds {self._dimension}")

    def _chunk_ids(self, prefix: str) -> list[str]:
        index = self._client()

        def walk() -> list[str]:
            found: list[str] = []
            for page in index.list(prefix=prefix, namespace=self._namespace):
                found.extend(str(item.id) for item in page.vectors if item.id)
                if len(found) > MAX_LISTED:
                    raise RagUnavailable("pinecone lists more ids than rag handles")
            return found

        return self._call("list", walk)

    def replace(self, doc_ids: Sequence[str], chunks: Sequence[Chunk], vectors: Any) -> None:
        self._check_dimension(int(vectors.shape[1]))
        index = self._client()
        before = {doc: set(self._chunk_ids(f"{doc}#")) for doc in doc_ids}
        existing = set().union(*before.values()) if before else set()
        records: list[dict[str, Any]] = []
        for i, c in enumerate(chunks):
            metadata: dict[str, Any] = dict(c.metadata)
            metadata.update({"_doc": c.doc, "_n": c.n, "_content": c.content})
            records.append({"id": c.id, "values": [float(x) for x in vectors[i]], "metadata": metadata})
        try:
            for batch in upsert_batches(records):
                self._call("upsert", lambda batch=batch: index.upsert(  # type: ignore[misc]
                    vectors=batch, namespace=self._namespace, show_progress=False))
        except BaseException:
            fresh = sorted(c.id for c in chunks if not before.get(c.doc))
            try:
                self._delete_ids(fresh)
            except Exception as exc:
                _log.warning("chunks of new documents stay after a failed upsert (%s)", type(exc).__name__,
                             extra={"action": "rag.pinecone_cleanup_failed", "tenant": self._tenant,
                                    "endpoint_id": self._id, "chunks": len(fresh)})
            raise
        self._delete_ids(sorted(existing - {c.id for c in chunks}))

    def maintain(self) -> None:
        """Nothing to do: Pinecone keeps its own index."""

    def _delete_ids(self, ids: Sequence[str]) -> None:
        index = self._client()
        for start in range(0, len(ids), DELETE_BATCH):
            batch = list(ids[start:start + DELETE_BATCH])
            self._call("delete", lambda batch=batch: index.delete(  # type: ignore[misc]
                ids=batch, namespace=self._namespace))

    def delete(self, doc_ids: Sequence[str]) -> None:
        self._delete_ids([cid for doc in doc_ids for cid in self._chunk_ids(f"{doc}#")])

    def search(self, vector: Any, limit: int, filters: Mapping[str, Any] | None) -> list[Hit]:
        self._check_dimension(len(vector))
        index = self._client()
        answer = self._call("query", lambda: index.query(
            vector=[float(x) for x in vector], top_k=limit, filter=dict(filters) if filters else None,
            include_metadata=True, namespace=self._namespace), filtering=bool(filters))
        hits = []
        for match in answer.matches:
            meta = dict(match.metadata or {})
            hits.append(Hit(doc=str(meta.get("_doc", str(match.id).split("#")[0])),
                            content=str(meta.get("_content", "")), score=float(match.score),
                            metadata={k: v for k, v in meta.items() if not k.startswith("_")}))
        return hits

    def stats(self) -> StoreStats:
        answer = self._call("describe_index_stats", lambda: self._client().describe_index_stats())
        summary = (answer.namespaces or {}).get(self._namespace)
        ids = self._chunk_ids("")
        return StoreStats(chunks=int(summary.vector_count) if summary is not None else len(ids),
                          documents=len({i.split("#")[0] for i in ids}), dimension=answer.dimension,
                          index="pinecone")

    def drop(self) -> None:
        index = self._client()
        try:
            self._call("delete", lambda: index.delete(delete_all=True, namespace=self._namespace))
        except RagEndpointInvalid as exc:  # a namespace never written is not there: nothing to remove
            if "NotFoundError" not in str(exc):
                raise
        forget_store(self._tenant, self._id)
