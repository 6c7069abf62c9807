"""Endpoints: a slug per tenant with its configuration, kept in Postgres (``rag_endpoint``).

``query`` looks its endpoint up with one indexed SELECT on a pooled connection (or the caller's
transaction); ``index_documents`` reads it with :func:`lookup` before embedding, then creates an unknown
endpoint with :func:`get_or_create` inside the short transaction of its store write (the row held ``FOR
SHARE`` so that :func:`delete_endpoint` waits), so a failed first call leaves no endpoint behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from automate.config import Settings, get_settings
from automate.db.context import current_connection, pool
from automate.db.rag import RagEndpointRow, RagEndpointStore
from automate.errors import RagEndpointInvalid, RagEndpointNotFound, RagUnavailable
from rag.config import EndpointConfig, check_slug, endpoint_config

__all__ = ["Endpoint", "create_endpoint", "delete_endpoint", "get_endpoint", "get_or_create",
           "list_endpoints", "lookup", "transaction", "writing"]

_log = logging.getLogger("automate.rag")


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A retrieval endpoint: where ``index_documents`` writes and ``query`` reads.

    Attributes:
        slug: Its name in the tenant.
        id: Its uuid (names its data: the LanceDB directory, the default Pinecone namespace).
        tenant: Whose it is.
        config: Chunking, embedder and store.
        created_at: When it was created (None when not read from a listing).
    """

    slug: str
    id: str
    tenant: str
    config: EndpointConfig
    created_at: datetime | None = None


@contextmanager
def transaction(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    """A transaction on the caller's ambient connection (a savepoint there) or on a pooled one."""
    try:
        ambient = current_connection()
        if ambient is not None:
            with ambient.transaction():
                yield ambient
            return
        with pool(settings).connection() as conn, conn.transaction():
            yield conn
    except psycopg.OperationalError as exc:
        raise RagUnavailable(f"the state database is out of reach ({type(exc).__name__})") from None


def _endpoint(row: RagEndpointRow, tenant: str, settings: Settings) -> Endpoint:
    return Endpoint(slug=row.slug, id=row.id, tenant=tenant, created_at=row.created_at,
                    config=endpoint_config(row.config, settings=settings))


def create_endpoint(slug: str, *, embedder: str | Mapping[str, Any] | None = None,
                    store: str | Mapping[str, Any] | None = None, chunk_size: int | None = None,
                    chunk_overlap: int | None = None, tenant: str | None = None,
                    settings: Settings | None = None) -> Endpoint:
    """Create endpoint ``slug``; what is not given comes from the settings (``rag_embedder``,
    ``rag_store``, ``rag_chunk_size``, ``rag_chunk_overlap``).

    Args:
        slug: 1-63 of a-z, 0-9, ``_``, ``-``.
        embedder: ``"wordllama"``, ``"openai"`` or an object (``{"kind": "openai", "model": ...,
            "dimension": 1536, "base_url": ..., "api_key": "$secret:OPENAI_KEY"}``).
        store: ``"lancedb"``, ``"pinecone"`` or an object (``{"kind": "lancedb", "index": "exact"}``,
            ``{"kind": "pinecone", "host": ..., "api_key": "$secret:PINECONE"}``).
        chunk_size: Characters per chunk.
        chunk_overlap: Characters two neighbouring chunks share.
        tenant: Default: the settings' tenant.
        settings: Default: the process's.

    Raises:
        RagEndpointInvalid: A bad slug or configuration, or the endpoint exists already.
    """
    settings = settings or get_settings()
    tenant = tenant or settings.tenant
    check_slug(slug)
    config = endpoint_config(None, settings=settings, embedder=embedder, store=store, chunk_size=chunk_size,
                             chunk_overlap=chunk_overlap)
    with transaction(settings) as conn:
        if config.store.kind == "pinecone" and config.store.namespace:
            _claim_namespace(conn, tenant, str(config.store.host), config.store.namespace)
        ident = RagEndpointStore(conn).insert(tenant, slug, config.to_json())
    if ident is None:
        raise RagEndpointInvalid(f"endpoint {slug} exists already")
    return Endpoint(slug=slug, id=ident, tenant=tenant, config=config)


def _claim_namespace(conn: psycopg.Connection[Any], tenant: str, host: str, suffix: str) -> None:
    """Refuse a Pinecone namespace another endpoint of the tenant stores into on the same host (the
    namespace is ``<tenant folder>.<suffix>``: other tenants' are out of reach by construction). An
    advisory lock on the host and namespace makes two concurrent creations take turns."""
    from rag.stores import tenant_folder

    store = RagEndpointStore(conn)
    store.lock_key(f"rag-namespace:{host}:{tenant_folder(tenant)}.{suffix}")
    users = store.namespace_users(host, suffix)
    if any(tenant_folder(other) == tenant_folder(tenant) for other, _, _ in users):
        raise RagEndpointInvalid(f"another endpoint already stores into pinecone namespace {suffix!r} on "
                                 "this host")


def get_endpoint(slug: str, *, tenant: str | None = None, settings: Settings | None = None) -> Endpoint:
    """Endpoint ``slug`` of ``tenant``.

    Raises:
        RagEndpointNotFound: There is none.
        RagEndpointInvalid: A bad slug.
    """
    settings = settings or get_settings()
    tenant = tenant or settings.tenant
    check_slug(slug)
    with transaction(settings) as conn:
        row = RagEndpointStore(conn).get(tenant, slug)
    if row is None:
        raise RagEndpointNotFound(f"no retrieval endpoint {slug}")
    return _endpoint(row, tenant, settings)


def lookup(slug: str, tenant: str, settings: Settings) -> Endpoint | None:
    """Endpoint ``slug`` of ``tenant`` or None, in a short transaction of its own (a pooled connection is
    held for one SELECT, not through the caller's embedding)."""
    with transaction(settings) as conn:
        row = RagEndpointStore(conn).get(tenant, slug)
    return None if row is None else _endpoint(row, tenant, settings)


def get_or_create(conn: psycopg.Connection[Any], slug: str, tenant: str, settings: Settings,
                  config: EndpointConfig | None = None) -> tuple[Endpoint, bool]:
    """Endpoint ``slug`` on ``conn``'s transaction, locked ``FOR SHARE`` (a concurrent
    :func:`delete_endpoint` waits for the caller's commit), else created with ``config`` (default: the
    settings' defaults); whether it was created (the caller's rollback then takes it back)."""
    store = RagEndpointStore(conn)
    row = store.get(tenant, slug, for_share=True)
    if row is not None:
        return _endpoint(row, tenant, settings), False
    config = config or endpoint_config(None, settings=settings)
    ident = store.insert(tenant, slug, config.to_json())
    if ident is None:  # created meanwhile by a concurrent call, committed before our insert returned
        row = store.get(tenant, slug, for_share=True)
        if row is None:  # and deleted again since: rare enough to be retried by the caller
            raise RagUnavailable(f"endpoint {slug} was created and deleted meanwhile: try again")
        return _endpoint(row, tenant, settings), False
    return Endpoint(slug=slug, id=ident, tenant=tenant, config=config), True


def list_endpoints(*, tenant: str | None = None, settings: Settings | None = None) -> list[Endpoint]:
    """Every endpoint of ``tenant``, by slug."""
    settings = settings or get_settings()
    tenant = tenant or settings.tenant
    with transaction(settings) as conn:
        rows = RagEndpointStore(conn).list(tenant)
    return [_endpoint(row, tenant, settings) for row in rows]


def delete_endpoint(slug: str, *, tenant: str | None = None, settings: Settings | None = None) -> bool:
    """Delete endpoint ``slug`` and its data (its LanceDB directory, its Pinecone namespace); False when
    there was none. The row goes only once the data is gone (a failure keeps both); a write in progress
    (which holds the row ``FOR SHARE``) finishes first.

    Raises:
        RagUnavailable: The store could not remove the data (nothing was deleted).
    """
    from rag.stores import open_store, tenant_folder

    settings = settings or get_settings()
    tenant = tenant or settings.tenant
    check_slug(slug)
    with transaction(settings) as conn:
        store = RagEndpointStore(conn)
        row = store.delete(tenant, slug)
        if row is None:
            return False
        endpoint = _endpoint(row, tenant, settings)
        shared = endpoint.config.store.kind == "pinecone" and endpoint.config.store.namespace and any(
            tenant_folder(other) == tenant_folder(tenant)
            for other, _, _ in store.namespace_users(str(endpoint.config.store.host),
                                                     endpoint.config.store.namespace))
        if shared:  # another row names the namespace (written before the check existed): keep its data
            _log.warning("endpoint %s deleted, its pinecone namespace kept: another endpoint uses it", slug,
                         extra={"action": "rag.namespace_kept", "tenant": tenant, "endpoint": slug})
        else:
            open_store(endpoint, settings=settings).drop()
    return True


@contextmanager
def writing(slug: str, tenant: str, settings: Settings) -> Iterator[Endpoint]:
    """Endpoint ``slug`` held ``FOR SHARE`` for the block (a write's short transaction: a concurrent
    :func:`delete_endpoint` waits for it).

    Raises:
        RagEndpointNotFound: There is none.
    """
    with transaction(settings) as conn:
        row = RagEndpointStore(conn).get(tenant, slug, for_share=True)
        if row is None:
            raise RagEndpointNotFound(f"no retrieval endpoint {slug}")
        yield _endpoint(row, tenant, settings)
