"""Index maintenance of a LanceDB endpoint table: the approximate vector index, the ``labels`` index the
filters use, and the removal of old versions. Called by ``LanceStore.maintain`` under the endpoint's
``flock`` (one maintainer per endpoint), best effort: whatever raises here is logged by the caller.

- From ``index_min_rows`` rows on (``auto``, ``ivf_hnsw_sq``, ``ivf_pq``): the vector index is built; a
  write that leaves more than max(index_min_rows / 4, a tenth of the indexed rows) unindexed folds them in
  with ``optimize()`` (a new index segment, ~1-1.5 s); at ``MAX_SEGMENTS`` segments the index is built
  again as one (every segment is searched by every query). ``exact`` never builds one.
- From ``index_min_rows`` rows on (every mode): a LABEL_LIST index on ``labels`` (equality and ``$in``
  filters); ``optimize()`` folds new rows into it too.
- Every ``optimize()`` also removes the versions older than ``CLEANUP_GRACE`` (a reader or writer of
  another process working on an older version has that long to finish); when no fold is due, one runs
  anyway once ``CLEANUP_VERSIONS`` versions are kept and the oldest is past the grace period, so a table
  that is only updated does not keep every version it ever had.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rag.config import StoreConfig
from rag.filters import LABELS

__all__ = ["CLEANUP_GRACE", "CLEANUP_VERSIONS", "HNSW_PARTITION_ROWS", "MAX_SEGMENTS", "maintain_table"]

MAX_SEGMENTS = 4  # index segments (one per optimize) before the index is built again as one
CLEANUP_GRACE = timedelta(minutes=10)
CLEANUP_VERSIONS = 10
# Rows per IVF partition of IVF_HNSW_SQ: one graph up to 250,000 rows. At 100,000 rows one partition
# recalls 0.98 of the exact top 10 against 0.84 for two (ef 640, same latency; a table indexed once:
# through rag's incremental maintenance 0.77, see docs/rag.md's tuning and known limit).
HNSW_PARTITION_ROWS = 250_000


def maintain_table(table: Any, config: StoreConfig) -> None:
    """Build, fold or rebuild what is due on ``table``, then remove old versions if due."""
    rows = table.count_rows()
    optimized = False
    if rows >= config.index_min_rows:
        indexes = table.list_indices()
        if LABELS in table.schema.names and not any(LABELS in i.columns for i in indexes):
            from lancedb.index import LabelList

            table.create_index(LABELS, config=LabelList())
        vector = [i for i in indexes if "vector" in i.columns]
        if config.index != "exact":
            if not vector:
                build_vector_index(table, rows, config)
            else:
                optimized = _fold(table, vector[0].name, rows, config)
    if not optimized and _cleanup_due(table):
        table.optimize(cleanup_older_than=CLEANUP_GRACE)


def _fold(table: Any, name: str, rows: int, config: StoreConfig) -> bool:
    """Fold the unindexed rows in (or rebuild) when many are; whether ``optimize()`` ran."""
    stats = table.index_stats(name)
    if stats is None or stats.num_unindexed_rows <= max(config.index_min_rows // 4,
                                                        stats.num_indexed_rows // 10):
        return False
    if stats.num_indices >= MAX_SEGMENTS:
        build_vector_index(table, rows, config)
        return False
    table.optimize(cleanup_older_than=CLEANUP_GRACE)
    return True


def _cleanup_due(table: Any) -> bool:
    versions = table.list_versions()
    if len(versions) < CLEANUP_VERSIONS:
        return False
    oldest = min(v["timestamp"] for v in versions)
    if oldest.tzinfo is None:
        return bool(oldest < datetime.now() - CLEANUP_GRACE)
    return bool(oldest < datetime.now(UTC) - CLEANUP_GRACE)


def build_vector_index(table: Any, rows: int, config: StoreConfig) -> None:
    """(Re)build the approximate index over every row, as one segment."""
    dimension = table.schema.field("vector").type.list_size
    from lancedb.index import IvfHnswSq, IvfPq

    index: Any
    if config.index == "ivf_pq":
        sub = next(s for s in (dimension // 8, dimension // 16, dimension // 4, 1)
                   if s >= 1 and dimension % s == 0)
        index = IvfPq(distance_type="cosine", num_partitions=max(1, int(rows ** 0.5)), num_sub_vectors=sub)
    else:
        index = IvfHnswSq(distance_type="cosine", num_partitions=max(1, rows // HNSW_PARTITION_ROWS))
    table.create_index("vector", config=index)
