"""The pinecone store through the pinecone SDK against a local Pinecone data-plane server: upsert,
query with the filter syntax, re-indexing (stale chunks deleted), deletion, stats, typed errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import rag
from automate.config import Settings
from automate.db.context import close_pools
from automate.errors import RagDimensionMismatch, RagEndpointInvalid, RagFilterInvalid
from rag.config import WORDLLAMA_DIMENSION
from tests.integration.rag_peers import PineconePeer, pinecone_server

pytestmark = pytest.mark.integration

KEY = "pcsk_local_test_key_123"
DOCS: list[dict[str, Any]] = [
    {"id": "pw", "content": "To reset your password, open Settings and choose Reset password.",
     "metadata": {"category": "authentication", "year": 2024, "tags": ["account"]}},
    {"id": "2fa", "content": "Two-factor authentication adds a code from your phone to every sign in.",
     "metadata": {"category": "security", "year": 2021}},
    {"id": "invoice", "content": "Invoices are sent on the first day of each month by email.",
     "metadata": {"category": "billing", "year": 2019}},
]


@pytest.fixture
def s(db_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    from automate.secrets.keys import key_file

    settings = Settings(**{**db_settings.model_dump(), "home": tmp_path / "home",
                           "secret_key_file": key_file(db_settings)})
    yield settings
    close_pools(settings)


@pytest.fixture
def peer() -> Iterator[PineconePeer]:
    with pinecone_server(KEY, WORDLLAMA_DIMENSION) as server:
        yield server


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TEST_PINECONE_KEY", KEY)
    monkeypatch.setenv("RAG_TEST_WRONG_KEY", "pcsk_wrong")
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)


def _endpoint(s: Settings, peer: PineconePeer, slug: str = "kb", **store: Any) -> None:
    rag.create_endpoint(slug, store={"kind": "pinecone", "host": peer.url,
                                     "api_key": "$env:RAG_TEST_PINECONE_KEY", **store},
                        chunk_size=50, chunk_overlap=5, settings=s)


def test_index_query_filter_reindex_delete(s: Settings, peer: PineconePeer) -> None:
    _endpoint(s, peer)
    assert rag.index_documents("kb", DOCS, settings=s) == 3
    endpoint = rag.get_endpoint("kb", settings=s)
    namespace = f"{s.tenant}.{endpoint.id}"
    stored = peer.namespaces[namespace]
    assert {i.split("#")[0] for i in stored} == {"pw", "2fa", "invoice"}
    assert len(stored) > 3  # 50-character chunks
    assert all(len(values) == WORDLLAMA_DIMENSION for values, _ in stored.values())
    pw_chunks = sorted(i for i in stored if i.startswith("pw#"))
    assert stored[pw_chunks[0]][1]["_content"].startswith("To reset your password")

    results = rag.query("kb", "How do I reset my password?", top_k=2, settings=s)
    assert results[0]["id"] == "pw"
    assert results[0]["metadata"] == DOCS[0]["metadata"]  # the store's own keys stay inside
    assert len({r["id"] for r in results}) == len(results)
    filtered = rag.query("kb", "password", top_k=5, filters={"year": {"$lt": 2022}, "category": {
        "$in": ["billing", "security"]}}, settings=s)
    assert {r["id"] for r in filtered} == {"2fa", "invoice"}
    assert [r["id"] for r in rag.query("kb", "x", filters={"tags": "account"}, settings=s)] == ["pw"]
    sent = [json.loads(r.body) for r in peer.requests if r.path == "/query"]
    assert sent[1]["filter"] == {"year": {"$lt": 2022}, "category": {"$in": ["billing", "security"]}}

    rag.index_documents("kb", [{"id": "pw", "content": "Passwords reset from Settings.",
                                "metadata": {"category": "authentication"}}], settings=s)
    assert sorted(i for i in stored if i.startswith("pw#")) == ["pw#0"]  # the stale chunks are gone
    assert stored["pw#0"][1]["_content"] == "Passwords reset from Settings."
    stats = rag.describe_endpoint("kb", settings=s).store
    assert (stats.documents, stats.chunks, stats.dimension) == (3, len(stored), WORDLLAMA_DIMENSION)

    rag.delete_documents("kb", ["invoice"], settings=s)
    assert not any(i.startswith("invoice#") for i in stored)
    assert rag.delete_endpoint("kb", settings=s) is True
    assert namespace not in peer.namespaces
    assert all(r.headers["api-key"] == KEY for r in peer.requests)


def test_a_wrong_key_and_a_wrong_dimension_are_typed(s: Settings, peer: PineconePeer) -> None:
    rag.create_endpoint("wrong", store={"kind": "pinecone", "host": peer.url,
                                        "api_key": "$env:RAG_TEST_WRONG_KEY"}, settings=s)
    with pytest.raises(RagEndpointInvalid, match="401") as failed:
        rag.index_documents("wrong", DOCS, settings=s)
    assert "pcsk_wrong" not in str(failed.value)
    with pinecone_server(KEY, 1536) as other:
        _endpoint(s, other, "small")
        with pytest.raises(RagDimensionMismatch, match="1536"):
            rag.index_documents("small", DOCS, settings=s)
        assert other.namespaces == {}


def test_filters_are_checked_before_pinecone_sees_them(s: Settings, peer: PineconePeer) -> None:
    _endpoint(s, peer)
    rag.index_documents("kb", DOCS, settings=s)
    before = len(peer.requests)
    with pytest.raises(RagFilterInvalid):
        rag.query("kb", "password", filters={"category": {"$regex": "auth"}}, settings=s)
    assert len(peer.requests) == before


def test_the_namespace_can_be_named_and_is_prefixed_with_the_tenant(s: Settings, peer: PineconePeer) -> None:
    _endpoint(s, peer, namespace="support-en")
    rag.index_documents("kb", DOCS[:1], settings=s)
    assert set(peer.namespaces) == {f"{s.tenant}.support-en"}
    # Another tenant naming the same namespace writes to its own; the same tenant cannot reuse it.
    rag.create_endpoint("kb", store={"kind": "pinecone", "host": peer.url, "namespace": "support-en",
                                     "api_key": "$env:RAG_TEST_PINECONE_KEY"}, tenant="globex", settings=s)
    rag.index_documents("kb", DOCS[1:2], tenant="globex", settings=s)
    assert set(peer.namespaces) == {f"{s.tenant}.support-en", "globex.support-en"}
    with pytest.raises(RagEndpointInvalid, match="already stores into"):
        _endpoint(s, peer, "kb2", namespace="support-en")
    with pytest.raises(RagEndpointInvalid, match="uuid"):  # the shape of another endpoint's default
        _endpoint(s, peer, "kb3", namespace=rag.get_endpoint("kb", settings=s).id)
    assert rag.delete_endpoint("kb", tenant="globex", settings=s) is True
    assert set(peer.namespaces) == {f"{s.tenant}.support-en"}  # the other tenant's data stays


def test_delete_keeps_a_namespace_another_row_names(s: Settings, peer: PineconePeer) -> None:
    _endpoint(s, peer, namespace="shared")
    rag.index_documents("kb", DOCS[:1], settings=s)
    config = rag.get_endpoint("kb", settings=s).config.to_json()
    with psycopg.connect(s.dsn) as conn:  # a row written before the check existed
        conn.execute("INSERT INTO rag_endpoint (id, tenant, slug, config) VALUES (gen_random_uuid(), %s, "
                     "'legacy', %s::jsonb)", (s.tenant, json.dumps(config)))
    assert rag.delete_endpoint("kb", settings=s) is True
    assert set(peer.namespaces) == {f"{s.tenant}.shared"}
    assert [r["id"] for r in rag.query("legacy", "password", settings=s)] == ["pw"]


def test_upserts_stay_under_pinecones_request_size(s: Settings, peer: PineconePeer) -> None:
    rag.create_endpoint("kb", store={"kind": "pinecone", "host": peer.url,
                                     "api_key": "$env:RAG_TEST_PINECONE_KEY"},
                        chunk_size=8000, chunk_overlap=0, settings=s)
    docs = [{"id": f"d{i}", "content": " ".join(["漢字の文書"] * 1300)} for i in range(120)]
    assert rag.index_documents("kb", docs, settings=s) == 120
    upserts = [r for r in peer.requests if r.path == "/vectors/upsert"]
    assert len(upserts) > 2 and all(len(r.body) <= 2 * 1024 * 1024 for r in upserts)
    assert rag.describe_endpoint("kb", settings=s).store.documents == 120


def test_a_failed_upsert_removes_the_new_documents_it_wrote(s: Settings, peer: PineconePeer) -> None:
    _endpoint(s, peer)
    rag.index_documents("kb", DOCS[:1], settings=s)
    before = set(peer.namespaces[f"{s.tenant}.{rag.get_endpoint('kb', settings=s).id}"])
    peer.upserts_allowed = 1  # the call's first request passes, the second fails
    new = [{"id": f"n{i}", "content": "a new document about printers and paper"} for i in range(150)]
    with pytest.raises(RagEndpointInvalid, match="upsert answered 400"):
        rag.index_documents("kb", new, settings=s)
    assert set(peer.namespaces[f"{s.tenant}.{rag.get_endpoint('kb', settings=s).id}"]) == before
