"""The schema ids of the contracts, cached in Postgres (table ``schema_id``)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from automate.db.store import AsyncStore, Store

__all__ = ["AsyncSchemaStore", "SchemaStore"]


class SchemaStore(Store):
    """The registry's ids of our contracts (async twin: :class:`AsyncSchemaStore`)."""

    group = "schemas"

    def ids_by_fingerprint(self) -> dict[str, int]:
        """Each cached contract's schema id, by the contract's fingerprint."""
        rows = self._all("ids_by_fingerprint")
        return {str(fingerprint): int(schema_id) for fingerprint, schema_id in rows}

    def writer_schemas(self) -> list[tuple[int, Any]]:
        """(schema id, Avro schema) of every cached schema: the writer schemas consumers decode with."""
        return [(int(schema_id), schema) for schema_id, schema in self._all("writer_schemas")]

    def cache(self, *, subject: str, version: int, schema_id: int, fingerprint: str, schema: Any) -> None:
        """Remember a registered schema (a second call for the same one does nothing)."""
        self._execute("cache", {"subject": subject, "version": version, "schema_id": schema_id,
                                "fingerprint": fingerprint, "schema": Jsonb(schema)})


class AsyncSchemaStore(AsyncStore):
    """Async twin of :class:`SchemaStore` (what ``aemit_event`` needs of it)."""

    group = "schemas"

    async def ids_by_fingerprint(self) -> dict[str, int]:
        cur = await self._execute("ids_by_fingerprint")
        return {str(fingerprint): int(schema_id) for fingerprint, schema_id in await cur.fetchall()}
