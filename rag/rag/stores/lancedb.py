"""``lancedb``: the embedded default store, no server; an endpoint's data lives in
``<AUTOMATE_HOME>/rag/<tenant>/<endpoint id>/chunks.lance``.

Columns: ``id`` (``<doc>#<n>``), ``doc``, ``n``, ``content``, ``meta`` (the document's metadata as
JSON, returned), ``fmeta`` (typed keys the filters read, see ``rag.filters``), ``labels``
(``<type>:<key>=<value>`` strings for equality and ``$in`` filters; a table made before it existed has
none, and its filters read ``fmeta`` only), ``vector``.

Re-indexing is one ``merge_insert`` on ``id``: new chunks inserted, existing ones updated, and chunks of
this call's documents that the call no longer has deleted, in a single commit (a failure commits
nothing). From ``index_min_rows`` chunks on, an approximate index (IVF_HNSW_SQ by default, or IVF_PQ)
answers queries (IVF_HNSW_SQ: its graph search keeps ``ef`` candidates), re-ranked by exact distances
(``refine_factor``), and a LABEL_LIST index serves the filters' ``labels`` (see
``rag.stores.lancedb_index``). ``index: exact`` never builds a vector index.

A filter made only of equalities and ``$in`` is applied first (prefilter: answered by the labels' index,
then the nearest matching chunks searched); any other filter is applied to the nearest
``POSTFILTER_FACTOR`` x limit chunks first, and only when fewer than limit of them match is the whole
table filtered first (its JSON parsed on every row).

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
from rag.filters import FIELD, LABELS, filter_fields, labels_of, labels_only, to_lancedb_sql
from rag.stores import Chunk, Hit, StoreStats, forget_store, tenant_folder
from rag.stores.lancedb_index import maintain_table

if TYPE_CHECKING:
    from rag.endpoints import Endpoint

__all__ = ["LanceStore", "data_dir"]

TABLE = "chunks"
POSTFILTER_FACTOR = 8  # chunks fetched per result wanted before a filter is applied afterwards
_COLUMNS = ["doc", "content", "meta", "_distance"]
_log = logging.getLogger("automate.rag")


def data_dir(settings: Settings, tenant: str, endpoint_id: str) -> Path:
    """Where an endpoint's data lives: built from a checked tenant name (else its hash) and a uuid only,
    never from other user text."""
    return settings.home / "rag" / tenant_folder(tenant) / str(uuid.UUID(endpoint_id))


def _sql_list(values: Sequence[str]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def _schema(dimension: int, *, labels: bool = True) -> Any:
    """The rows as written (the table reports its JSON columns as binary: JSONB; written as binary they
    would be taken as JSONB already, and the filters could not read them); ``labels=False``: a table
    made before the ``labels`` column."""
    import pyarrow as pa

    return pa.schema([pa.field("id", pa.utf8()), pa.field("doc", pa.utf8()), pa.field("n", pa.int32()),
                      pa.field("content", pa.utf8()), pa.field("meta", pa.json_(pa.utf8())),
                      pa.field(FIELD, pa.json_(pa.utf8())),
                      *([pa.field(LABELS, pa.list_(pa.utf8()))] if labels else []),
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
        self._labels: bool | None = None  # whether the table has the labels column, once known
        self._dimension: int | None = None  # the table's vectors', once read

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

    def _has_labels(self, table: Any) -> bool:
        """Whether the table has the ``labels`` column (a table made before it has not)."""
        if self._labels is None:
            self._labels = bool(self._guard("open", lambda: LABELS in table.schema.names))
        return self._labels

    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, LanceDB's untyped errors made typed (their messages name paths: not passed on)."""
        try:
            return fn()
        except (OSError, RuntimeError, ValueError) as exc:
            if not self._dir.exists():
                with self._lock:
                    self._table = None
                    self._labels = None
                    self._db = None
                forget_store(self._tenant, self._id)
                raise RagEndpointNotFound("the endpoint's data is gone (the endpoint was deleted)") from None
            raise RagUnavailable(f"lancedb {what} failed ({type(exc).__name__})") from None

    def replace(self, doc_ids: Sequence[str], chunks: Sequence[Chunk], vectors: Any) -> None:
        import pyarrow as pa

        table = self._created(int(vectors.shape[1]))
        labels = self._has_labels(table)
        columns: dict[str, Any] = {
            "id": [c.id for c in chunks], "doc": [c.doc for c in chunks], "n": [c.n for c in chunks],
            "content": [c.content for c in chunks],
            "meta": [json.dumps(dict(c.metadata), ensure_ascii=False) for c in chunks],
            FIELD: [json.dumps(filter_fields(c.metadata), ensure_ascii=False) for c in chunks],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), int(vectors.shape[1])),
        }
        if labels:
            columns[LABELS] = [labels_of(c.metadata) for c in chunks]
        # the JSON columns as pa.json_: LanceDB stores JSONB
        data = pa.Table.from_pydict(columns, schema=_schema(int(vectors.shape[1]), labels=labels))
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
        if self._dimension is None:
            self._dimension = int(self._guard("open", lambda: table.schema.field("vector").type.list_size))
        if len(vector) != self._dimension:
            raise RagDimensionMismatch(f"the embedder gives {len(vector)}-dimension vectors, the endpoint's "
                                       f"index holds {self._dimension}")
        if not filters:
            rows = self._nearest(table, vector, limit, None, prefilter=False)
        elif self._has_labels(table) and labels_only(filters):
            # Equalities and $in: the labels' index gives the matching rows (4-9 ms at 100,000 chunks),
            # the search runs over them only: one search, whatever the filter's selectivity.
            rows = self._nearest(table, vector, limit, to_lancedb_sql(filters, labels=True), prefilter=True)
        else:
            # A filter evaluated on every row (prefilter) parses each row's JSON: ~50 ms at 100,000
            # chunks. The nearest POSTFILTER_FACTOR x limit chunks filtered afterwards hold the nearest
            # matching ones whenever at least `limit` of them match; only a selective filter pays for
            # the prefiltered search after that.
            where = to_lancedb_sql(filters, labels=self._has_labels(table))
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
                if self._config.index != "ivf_pq":  # the graph's candidates: at least those asked for
                    query = query.ef(max(self._config.ef, limit * max(1, self._config.refine_factor)))
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
            self._labels = None
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
        """Best effort: build or fold the indexes if due and remove old versions, by one process at a
        time; never raises (a failure is logged and the next write tries again)."""
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
                    maintain_table(table, self._config)
                finally:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
        except Exception as exc:
            _log.warning("rag index maintenance failed, retried at the next write (%s)", type(exc).__name__,
                         extra={"action": "rag.index_maintenance_failed", "tenant": self._tenant,
                                "endpoint_id": self._id, "error": type(exc).__name__})
