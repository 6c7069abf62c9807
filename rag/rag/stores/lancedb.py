"""``lancedb``: the embedded default store, no server; an endpoint's data lives in
``<AUTOMATE_HOME>/rag/<tenant>/<endpoint id>/chunks.lance``.

Columns: ``id`` (``<doc>#<n>``), ``doc``, ``n``, ``content``, ``meta`` (the document's metadata as
JSON, returned), ``fmeta`` (typed keys the filters read, see ``rag.filters``), ``vector``.

Re-indexing is one ``merge_insert`` on ``id``: new chunks inserted, existing ones updated, and chunks of
this call's documents that the call no longer has deleted, in a single commit (a failure commits
nothing). From ``index_min_rows`` chunks on, an approximate index (IVF_HNSW_SQ by default, or IVF_PQ)
answers queries, re-ranked by exact distances (``refine_factor``); rows written after it was built are
searched exactly until ``optimize()`` folds them in as a new index segment (after a write that left more
than a tenth unindexed); at four segments the index is built again as one. ``index: exact`` never builds
one.

Index maintenance is best effort and runs after the write committed (``maintain``, called by
``index_documents`` once its Postgres transaction is over): one process at a time per endpoint builds
(a non-blocking ``flock`` on ``<endpoint dir>/index.lock``; whoever finds it held skips), and a failure (a
concurrent writer preempting the index commit) is logged (action ``rag.index_maintenance_failed``) and
retried by the next write, since every write checks the index again. The write itself never fails
because of it.

``drop`` renames the directory to a tombstone (``.<endpoint id>.deleted-<random>``) before removing it, so
a failure leaves either all the data in place or none of it where the endpoint looks. A handle kept by
another process whose directory went answers ``RagEndpointNotFound``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automate.config import Settings
from automate.errors import RagDimensionMismatch, RagEndpointNotFound, RagUnavailable
from rag.filters import FIELD, filter_fields, to_lancedb_sql
from rag.stores import Chunk, Hit, StoreStats, forget_store, tenant_folder

if TYPE_CHECKING:
    from rag.endpoints import Endpoint

__all__ = ["LanceStore", "data_dir"]

TABLE = "chunks"
POSTFILTER_FACTOR = 8  # chunks fetched per result wanted before a filter is applied afterwards
MAX_SEGMENTS = 4  # index segments (one per optimize) before the index is built again as one
_COLUMNS = ["doc", "content", "meta", "_distance"]
_log = logging.getLogger("automate.rag")


def data_dir(settings: Settings, tenant: str, endpoint_id: str) -> Path:
    """Where an endpoint's data lives: built from a checked tenant name (else its hash) and a uuid only,
    never from other user text."""
    return settings.home / "rag" / tenant_folder(tenant) / str(uuid.UUID(endpoint_id))


def _sql_list(values: Sequence[str]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def _schema(dimension: int) -> Any:
    """The rows as written (the table reports its JSON columns as binary: JSONB; written as binary they
    would be taken as JSONB already, and the filters could not read them)."""
    import pyarrow as pa

    return pa.schema([pa.field("id", pa.utf8()), pa.field("doc", pa.utf8()), pa.field("n", pa.int32()),
                      pa.field("content", pa.utf8()), pa.field("meta", pa.json_(pa.utf8())),
                      pa.field(FIELD, pa.json_(pa.utf8())),
                      pa.field("vector", pa.list_(pa.float32(), dimension))])


class LanceStore:
    """An endpoint's LanceDB table, opened once per process (``read_consistency_interval=0``: every
    query sees the latest commit, another process's too)."""

    def __init__(self, endpoint: Endpoint, *, settings: Settings) -> None:
        self._tenant = endpoint.tenant
        self._id = endpoint.id
        self._dir = data_dir(settings, endpoint.tenant, endpoint.id)
        self._config = endpoint.config.store
        self._lock = threading.RLock()  # _guard may run under it
        self._db: Any = None
        self._table: Any = None

    def _connect(self) -> Any:
        if self._db is None:
            import lancedb

            self._db = lancedb.connect(str(self._dir), read_consistency_interval=timedelta(0))
        return self._db

    def _opened(self) -> Any:
        """The table, or None while nothing was ever written."""
        if self._table is None:
            with self._lock:
                if self._table is None and (self._dir / f"{TABLE}.lance").exists():
                    self._table = self._guard("open", lambda: self._connect().open_table(TABLE))
        return self._table

    def _created(self, dimension: int) -> Any:
        table = self._opened()
        if table is None:
            with self._lock:
                if self._table is None:  # another thread may have made it while we waited
                    self._dir.mkdir(parents=True, exist_ok=True)
                    try:
                        self._table = self._connect().create_table(TABLE, schema=_schema(dimension))
                    except (ValueError, OSError, RuntimeError) as exc:
                        # Another process made it first ("already exists"; exist_ok=True would compare
                        # schemas, and the JSON columns read back as another type, so it always fails).
                        if "already exists" not in str(exc) and not (self._dir / f"{TABLE}.lance").exists():
                            raise RagUnavailable(f"the lancedb table could not be created "
                                                 f"({type(exc).__name__})") from None
                        self._table = self._guard("open", lambda: self._connect().open_table(TABLE))
                table = self._table
        existing = self._guard("open", lambda: table.schema.field("vector").type.list_size)
        if existing != dimension:
            raise RagDimensionMismatch(f"the embedder gives {dimension}-dimension vectors, the endpoint's "
                                       f"index holds {existing}")
        return table

    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, LanceDB's untyped errors made typed (their messages name paths: not passed on)."""
        try:
            return fn()
        except (OSError, RuntimeError, ValueError) as exc:
            if not self._dir.exists():
                with self._lock:
                    self._table = None
                    self._db = None
                forget_store(self._tenant, self._id)
                raise RagEndpointNotFound("the endpoint's data is gone (the endpoint was deleted)") from None
            raise RagUnavailable(f"lancedb {what} failed ({type(exc).__name__})") from None

    def replace(self, doc_ids: Sequence[str], chunks: Sequence[Chunk], vectors: Any) -> None:
        import pyarrow as pa

        table = self._created(int(vectors.shape[1]))
        data = pa.Table.from_pydict({
            "id": [c.id for c in chunks], "doc": [c.doc for c in chunks], "n": [c.n for c in chunks],
            "content": [c.content for c in chunks],
            "meta": [json.dumps(dict(c.metadata), ensure_ascii=False) for c in chunks],
            FIELD: [json.dumps(filter_fields(c.metadata), ensure_ascii=False) for c in chunks],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), int(vectors.shape[1])),
        }, schema=_schema(int(vectors.shape[1])))  # the JSON columns as pa.json_: LanceDB stores JSONB
        self._guard("write", lambda: (
            table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
            .when_not_matched_by_source_delete(f"doc IN {_sql_list(doc_ids)}").execute(data)))

    def delete(self, doc_ids: Sequence[str]) -> None:
        table = self._opened()
        if table is not None and doc_ids:
            self._guard("delete", lambda: table.delete(f"doc IN {_sql_list(doc_ids)}"))

    def search(self, vector: Any, limit: int, filters: Mapping[str, Any] | None) -> list[Hit]:
        table = self._opened()
        if table is None:
            return []
        if not filters:
            rows = self._nearest(table, vector, limit, None, prefilter=False)
        else:
            # A filter evaluated on every row (prefilter) parses each row's JSON: ~50 ms at 100,000
            # chunks. The nearest POSTFILTER_FACTOR x limit chunks filtered afterwards hold the nearest
            # matching ones whenever at least `limit` of them match; only a selective filter pays for
            # the prefiltered search after that.
            where = to_lancedb_sql(filters)
            rows = self._nearest(table, vector, limit * POSTFILTER_FACTOR, where, prefilter=False)
            if len(rows) < limit:
                rows = self._nearest(table, vector, limit, where, prefilter=True)
        return [Hit(doc=r["doc"], content=r["content"], score=1.0 - float(r["_distance"]),
                    metadata=json.loads(r["meta"]) if r["meta"] else {}) for r in rows[:limit]]

    def _nearest(self, table: Any, vector: Any, limit: int, where: str | None, *, prefilter: bool
                 ) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            query = table.search(vector, vector_column_name="vector").distance_type("cosine").limit(limit)
            if self._config.index == "exact":
                query = query.bypass_vector_index()
            else:
                query = query.nprobes(self._config.nprobes)
                if self._config.refine_factor:
                    query = query.refine_factor(self._config.refine_factor)
            if where is not None:
                query = query.where(where, prefilter=prefilter)
            rows: list[dict[str, Any]] = query.select(_COLUMNS).to_arrow().to_pylist()
            return rows

        found: list[dict[str, Any]] = self._guard("search", run)
        return found

    def stats(self) -> StoreStats:
        table = self._opened()
        if table is None:
            return StoreStats(chunks=0, documents=0, dimension=None, index="none")

        def read() -> StoreStats:
            docs = table.search().select(["doc"]).limit(None).to_arrow().column("doc")
            indexes = [i for i in table.list_indices() if "vector" in i.columns]
            return StoreStats(chunks=table.count_rows(), documents=len(set(docs.to_pylist())),
                              dimension=table.schema.field("vector").type.list_size,
                              index=str(indexes[0].index_type) if indexes else "exact")

        found: StoreStats = self._guard("stats", read)
        return found

    def drop(self) -> None:
        """Remove the endpoint's directory: renamed to a tombstone first (atomic), then removed; if the
        removal fails the directory is renamed back and ``RagUnavailable`` raised (nothing deleted)."""
        with self._lock:
            self._table = None
            self._db = None
            forget_store(self._tenant, self._id)
            if not self._dir.exists():
                return
            tomb = self._dir.with_name(f".{self._dir.name}.deleted-{uuid.uuid4().hex[:12]}")
            try:
                os.rename(self._dir, tomb)
            except OSError as exc:
                raise RagUnavailable(f"the endpoint's data could not be removed ({type(exc).__name__})"
                                     ) from None
            try:
                shutil.rmtree(tomb)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.rename(tomb, self._dir)
                raise RagUnavailable(f"the endpoint's data could not be removed ({type(exc).__name__})"
                                     ) from None

    def maintain(self) -> None:
        """Best effort: build or fold the approximate index if due, by one process at a time; never
        raises (a failure is logged and the next write tries again)."""
        if self._config.index == "exact":
            return
        try:
            table = self._opened()
            if table is None:
                return
            with open(self._dir / "index.lock", "a+b") as lock:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another process or thread is at it: its build covers ours
                    return
                try:
                    self._maintain_index(table)
                finally:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        except Exception as exc:
            _log.warning("rag index maintenance failed, retried at the next write (%s)", type(exc).__name__,
                         extra={"action": "rag.index_maintenance_failed", "tenant": self._tenant,
                                "endpoint_id": self._id, "error": type(exc).__name__})

    def _maintain_index(self, table: Any) -> None:
        """Build the approximate index once the table is big enough; fold many new rows into it."""
        if self._config.index == "exact":
            return
        rows = table.count_rows()
        if rows < self._config.index_min_rows:
            return
        indexes = [i for i in table.list_indices() if "vector" in i.columns]
        if not indexes:
            self._build_index(table, rows)
            return
        stats = table.index_stats(indexes[0].name)
        if stats is None or stats.num_unindexed_rows <= max(self._config.index_min_rows // 4,
                                                            stats.num_indexed_rows // 10):
            return
        if stats.num_indices >= MAX_SEGMENTS:  # each optimize() adds a segment every query searches
            self._build_index(table, rows)
        else:
            table.optimize()

    def _build_index(self, table: Any, rows: int) -> None:
        dimension = table.schema.field("vector").type.list_size
        from lancedb.index import IvfHnswSq, IvfPq

        config: Any
        if self._config.index == "ivf_pq":
            sub = next(s for s in (dimension // 8, dimension // 16, dimension // 4, 1)
                       if s >= 1 and dimension % s == 0)
            config = IvfPq(distance_type="cosine", num_partitions=max(1, int(rows ** 0.5)),
                           num_sub_vectors=sub)
        else:
            config = IvfHnswSq(distance_type="cosine", num_partitions=max(1, rows // 50_000))
        table.create_index("vector", config=config)
