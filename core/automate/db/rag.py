"""Retrieval endpoints (table ``rag_endpoint``): a slug per tenant and its configuration."""

from __future__ import annotations

import builtins
import json
import uuid
from datetime import datetime
from typing import Any, NamedTuple

from automate.db.store import Store

__all__ = ["RagEndpointRow", "RagEndpointStore"]


class RagEndpointRow(NamedTuple):
    slug: str
    id: str
    config: dict[str, Any]  # chunking, embedder, store: secret references, never keys
    created_at: datetime | None


class RagEndpointStore(Store):
    """Named queries of the rag_endpoint table."""

    group = "rag"

    def get(self, tenant: str, slug: str, *, for_share: bool = False) -> RagEndpointRow | None:
        """The endpoint; ``for_share``: locked against a concurrent delete until the transaction ends."""
        row = self._one("get_endpoint_for_share" if for_share else "get_endpoint",
                        {"tenant": tenant, "slug": slug})
        return None if row is None else RagEndpointRow(slug, str(row[0]), dict(row[1]), None)

    def insert(self, tenant: str, slug: str, config: dict[str, Any]) -> str | None:
        """The new endpoint's id, or None when ``slug`` exists already (nothing changes then)."""
        row = self._one("insert_endpoint", {"id": str(uuid.uuid4()), "tenant": tenant, "slug": slug,
                                            "config": json.dumps(config)})
        return None if row is None else str(row[0])

    def list(self, tenant: str) -> list[RagEndpointRow]:
        return [RagEndpointRow(str(r[0]), str(r[1]), dict(r[2]), r[3])
                for r in self._all("list_endpoints", {"tenant": tenant})]

    def namespace_users(self, host: str, namespace: str) -> builtins.list[tuple[str, str, str]]:
        """``(tenant, slug, id)`` of every endpoint storing into ``namespace`` of Pinecone host ``host``."""
        return [(str(r[0]), str(r[1]), str(r[2]))
                for r in self._all("namespace_users", {"host": host, "namespace": namespace})]

    def lock_key(self, key: str) -> None:
        """A transaction-scoped advisory lock on ``key`` (released at commit or rollback)."""
        self._execute("lock_key", {"key": key})

    def delete(self, tenant: str, slug: str) -> RagEndpointRow | None:
        """The deleted endpoint, or None when there was none."""
        row = self._one("delete_endpoint", {"tenant": tenant, "slug": slug})
        return None if row is None else RagEndpointRow(slug, str(row[0]), dict(row[1]), None)
