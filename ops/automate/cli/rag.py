"""``automate rag``: retrieval endpoints (chunking, embedder, vector store) per tenant."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from automate.cli.common import console, fail, settings_of
from automate.errors import AutomateError

__all__ = ["rag"]


@click.group()
def rag() -> None:
    """Retrieval endpoints that rag.index / rag.query steps and index_documents / query use."""


def _section(text: str | None, what: str) -> str | dict[str, Any] | None:
    """A kind's name (``wordllama``) or a JSON object (``{"kind": "openai", ...}``)."""
    if text is None or not text.lstrip().startswith("{"):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--{what} is not JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(value, dict):
        fail(f"--{what} must be a kind's name or a JSON object")
    return value


@rag.command("create")
@click.argument("slug")
@click.option("--embedder", default=None,
              help='wordllama (offline, the default), openai, or a JSON object: \'{"kind": "openai", '
                   '"model": "text-embedding-3-small", "dimension": 1536, "base_url": "...", '
                   '"api_key": "$secret:OPENAI_KEY"}\' (a base_url needs its own api_key reference).')
@click.option("--store", default=None,
              help='lancedb (embedded, the default), pinecone, or a JSON object: \'{"kind": "lancedb", '
                   '"index": "auto|exact|ivf_pq|ivf_hnsw_sq"}\', \'{"kind": "pinecone", '
                   '"host": "https://...", "api_key": "$secret:PINECONE_KEY"}\'.')
@click.option("--chunk-size", type=int, default=None,
              help="Characters per chunk (default: AUTOMATE_RAG_CHUNK_SIZE).")
@click.option("--chunk-overlap", type=int, default=None,
              help="Characters neighbouring chunks share (default: AUTOMATE_RAG_CHUNK_OVERLAP).")
@click.option("--tenant", default=None, help="Whose endpoint (default: AUTOMATE_TENANT).")
@click.pass_context
def rag_create(ctx: click.Context, slug: str, embedder: str | None, store: str | None, chunk_size: int | None,
               chunk_overlap: int | None, tenant: str | None) -> None:
    """Create endpoint SLUG (credentials as $secret:/$env: references, never keys)."""
    from rag import create_endpoint

    try:
        made = create_endpoint(slug, embedder=_section(embedder, "embedder"), store=_section(store, "store"),
                               chunk_size=chunk_size, chunk_overlap=chunk_overlap, tenant=tenant,
                               settings=settings_of(ctx))
    except AutomateError as exc:
        fail(str(exc))
    console.print(f"endpoint {slug} created ({made.config.embedder.kind}, {made.config.store.kind})")


@rag.command("list")
@click.option("--tenant", default=None, help="Whose endpoints (default: AUTOMATE_TENANT).")
@click.pass_context
def rag_list(ctx: click.Context, tenant: str | None) -> None:
    """The endpoints, their embedder, store and chunking."""
    from rag import list_endpoints

    try:
        found = list_endpoints(tenant=tenant, settings=settings_of(ctx))
    except AutomateError as exc:
        fail(str(exc))
    table = Table("endpoint", "embedder", "store", "chunking", "created")
    for each in found:
        config = each.config
        table.add_row(each.slug, f"{config.embedder.kind} {config.embedder.model or ''}".strip(),
                      config.store.kind, f"{config.chunk_size}/{config.chunk_overlap}",
                      str(each.created_at)[:19])
    Console().print(table)


@rag.command("show")
@click.argument("slug")
@click.option("--tenant", default=None, help="Whose endpoint (default: AUTOMATE_TENANT).")
@click.pass_context
def rag_show(ctx: click.Context, slug: str, tenant: str | None) -> None:
    """Endpoint SLUG: its configuration (references, never keys), documents and chunks."""
    from rag import describe_endpoint

    try:
        found = describe_endpoint(slug, tenant=tenant, settings=settings_of(ctx))
    except AutomateError as exc:
        fail(str(exc))
    table = Table("field", "value")
    table.add_row("endpoint", found.endpoint.slug)
    table.add_row("id", found.endpoint.id)
    table.add_row("configuration", json.dumps(found.endpoint.config.to_json(), sort_keys=True))
    table.add_row("documents", "-" if found.store.documents is None else str(found.store.documents))
    table.add_row("chunks", str(found.store.chunks))
    table.add_row("dimension", "-" if found.store.dimension is None else str(found.store.dimension))
    table.add_row("search", found.store.index)
    Console().print(table)


@rag.command("delete")
@click.argument("slug")
@click.option("--tenant", default=None, help="Whose endpoint (default: AUTOMATE_TENANT).")
@click.pass_context
def rag_delete(ctx: click.Context, slug: str, tenant: str | None) -> None:
    """Delete endpoint SLUG and its data (the LanceDB directory, the Pinecone namespace)."""
    from rag import delete_endpoint

    try:
        deleted = delete_endpoint(slug, tenant=tenant, settings=settings_of(ctx))
    except AutomateError as exc:
        fail(str(exc))
    if not deleted:
        fail(f"no endpoint {slug}")
    console.print(f"endpoint {slug} deleted")
