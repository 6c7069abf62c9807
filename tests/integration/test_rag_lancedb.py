"""Retrieval with the defaults (wordllama, embedded LanceDB) on the real Postgres: endpoints, re-indexing,
deletion, the filter syntax end to end, atomic failures, the approximate index, tenants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import rag
from automate.config import Settings
from automate.db.context import close_pools
from automate.errors import (
    RagDimensionMismatch,
    RagDocumentInvalid,
    RagEndpointInvalid,
    RagEndpointNotFound,
    RagError,
    RagFilterInvalid,
    RagUnavailable,
)
from rag.chunking import chunk_text
from rag.stores.lancedb import _schema, data_dir
from tests.integration.rag_peers import embeddings_server

pytestmark = pytest.mark.integration

DOCS: list[dict[str, Any]] = [
    {"id": "pw", "content": "To reset your password, open Settings, choose Security and click Reset.",
     "metadata": {"category": "authentication", "year": 2024, "public": True, "tags": ["account", "login"]}},
    {"id": "2fa", "content": "Two-factor authentication adds a code from your phone to every sign in.",
     "metadata": {"category": "security", "year": 2021, "public": True, "tags": ["login"]}},
    {"id": "invoice", "content": "Invoices are sent on the first day of each month by email.",
     "metadata": {"category": "billing", "year": 2019}},
    {"id": "refund", "content": "A refund reaches your card within ten days of the request.",
     "metadata": {"category": "billing", "year": 2023, "public": False}},
]


@pytest.fixture
def s(db_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(**{**db_settings.model_dump(), "home": tmp_path / "home"})
    yield settings
    close_pools(settings)  # its own pool (another Settings than db_settings'), before the database goes


def ids(results: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in results]


def test_first_index_creates_the_endpoint_and_query_finds_by_meaning(s: Settings) -> None:
    with pytest.raises(RagEndpointNotFound):
        rag.query("kb", "password", settings=s)
    assert rag.index_documents("kb", DOCS, settings=s) == 4
    endpoint = rag.get_endpoint("kb", settings=s)
    assert endpoint.config.embedder.kind == "wordllama" and endpoint.config.store.kind == "lancedb"
    assert endpoint.config.chunk_size == s.rag_chunk_size
    results = rag.query("kb", "How do I reset my password?", top_k=2, settings=s)
    assert ids(results)[0] == "pw"
    top = results[0]
    assert set(top) == {"id", "content", "score", "metadata"}
    assert top["content"] == DOCS[0]["content"] and top["metadata"] == DOCS[0]["metadata"]
    assert results[0]["score"] > results[1]["score"]
    assert (data_dir(s, s.tenant, endpoint.id) / "chunks.lance").is_dir()


@pytest.mark.parametrize(("filters", "expected"), [
    ({"category": "billing"}, {"invoice", "refund"}),
    ({"category": {"$eq": "billing"}, "year": {"$gte": 2020}}, {"refund"}),
    ({"year": {"$lt": 2021}}, {"invoice"}),
    ({"year": {"$gt": 2021, "$lte": 2024}}, {"pw", "refund"}),
    ({"category": {"$in": ["security", "authentication"]}}, {"pw", "2fa"}),
    ({"category": {"$nin": ["billing"]}}, {"pw", "2fa"}),
    ({"category": {"$ne": "billing"}}, {"pw", "2fa"}),
    ({"public": True}, {"pw", "2fa"}),
    ({"public": {"$ne": True}}, {"invoice", "refund"}),  # refund is false, invoice has no key
    ({"public": {"$exists": False}}, {"invoice"}),
    ({"tags": {"$exists": True}}, {"pw", "2fa"}),
    ({"tags": "login"}, {"pw", "2fa"}),
    ({"tags": {"$in": ["account"]}}, {"pw"}),
    ({"$or": [{"year": 2019}, {"tags": "account"}]}, {"invoice", "pw"}),
    ({"$and": [{"category": "billing"}, {"$or": [{"public": False}, {"year": {"$lt": 2000}}]}]}, {"refund"}),
    ({"year": "2019"}, set()),  # a string never equals a number
    ({"category": "x' OR '1'='1"}, set()),  # injection attempts match nothing and break nothing
    ({"category": "billing') OR (1=1"}, set()),
    ({"category": "'; DROP TABLE chunks; --"}, set()),
    ({"category": "a'], ['s:category=billing"}, set()),  # a value never leaves its label literal
    ({"year": 2024.0}, {"pw"}),  # numbers compare as floats: 2024 == 2024.0
    ({"public": False}, {"refund"}),
    ({"category": "billing", "year": 2019}, {"invoice"}),  # several equalities: all must hold
    ({"tags": "login", "category": {"$in": ["security", "billing"]}}, {"2fa"}),
    ({"year": {"$in": [2019, "2021"]}}, {"invoice"}),  # "2021" is a string: never the number 2021
    ({"public": {"$in": [True]}, "year": {"$gte": 2022}}, {"pw"}),  # labels and JSON together
    ({"$or": [{"category": "billing", "public": False}, {"tags": {"$in": ["account"]}}]}, {"refund", "pw"}),
])
def test_filters(s: Settings, filters: dict[str, Any], expected: set[str]) -> None:
    rag.index_documents("kb", DOCS, settings=s)
    assert set(ids(rag.query("kb", "account help", top_k=10, filters=filters, settings=s))) == expected
    assert len(rag.query("kb", "account help", top_k=10, settings=s)) == 4  # the table is intact


def test_filters_outside_the_syntax_are_typed_errors(s: Settings) -> None:
    rag.index_documents("kb", DOCS, settings=s)
    for bad in ({"category": {"$regex": "bill"}}, {"year": {"$gt": "2020"}}, {"a'b": "x"}):
        with pytest.raises(RagFilterInvalid):
            rag.query("kb", "invoice", filters=bad, settings=s)


def test_reindexing_replaces_a_documents_chunks_and_delete_removes_them(s: Settings) -> None:
    rag.create_endpoint("kb", chunk_size=60, chunk_overlap=10, settings=s)
    long_text = " ".join(f"Paragraph {i} explains the legacy export feature in detail." for i in range(20))
    rag.index_documents("kb", [{"id": "guide", "content": long_text}, DOCS[0]], settings=s)
    before = rag.describe_endpoint("kb", settings=s).store
    assert before.documents == 2 and before.chunks > 10
    rag.index_documents("kb", [{"id": "guide", "content": "The export feature was removed in 2024.",
                                "metadata": {"category": "news"}}], settings=s)
    after = rag.describe_endpoint("kb", settings=s).store
    assert (after.documents, after.chunks) == (2, 1 + len(chunk_text(DOCS[0]["content"], 60, 10)))
    [hit] = rag.query("kb", "legacy export feature", top_k=1, filters={"category": "news"}, settings=s)
    assert hit["content"] == "The export feature was removed in 2024."
    assert all("Paragraph" not in r["content"] for r in rag.query("kb", "legacy export", top_k=5, settings=s))
    rag.delete_documents("kb", ["guide"], settings=s)
    assert ids(rag.query("kb", "export feature", top_k=5, settings=s)) == ["pw"]
    assert rag.describe_endpoint("kb", settings=s).store.chunks == len(chunk_text(DOCS[0]["content"], 60,
                                                                                  10))


def test_a_failed_call_leaves_the_endpoint_as_it_was(s: Settings) -> None:
    rag.index_documents("kb", DOCS[:2], settings=s)
    with pytest.raises(RagDocumentInvalid, match="document 1"):
        rag.index_documents("kb", [DOCS[2], {"content": "no id"}], settings=s)
    with pytest.raises(RagDocumentInvalid):
        rag.index_documents("kb", [{"id": "x", "content": "y", "metadata": {"nested": {"a": 1}}}], settings=s)
    assert rag.describe_endpoint("kb", settings=s).store.documents == 2
    assert set(ids(rag.query("kb", "invoice", top_k=10, settings=s))) == {"pw", "2fa"}


def test_a_failed_first_call_creates_no_endpoint(s: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with embeddings_server("sk-test", 8) as peer:
        peer.status = 503
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", peer.url)
        failing = Settings(**{**s.model_dump(), "rag_embedder": "openai"})
        with pytest.raises(RagUnavailable):
            rag.index_documents("kb", DOCS, settings=failing)
    with pytest.raises(RagEndpointNotFound):
        rag.get_endpoint("kb", settings=s)
    assert not (s.home / "rag").exists() or not any((s.home / "rag").rglob("chunks.lance"))


def test_an_embedder_of_another_dimension_is_refused(s: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with embeddings_server("sk-test", 8) as peer:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        rag.create_endpoint("kb", embedder={"kind": "openai", "base_url": peer.url, "model": "toy",
                                            "api_key": "$env:OPENAI_API_KEY"}, settings=s)
        rag.index_documents("kb", DOCS, settings=s)
        peer.dimension = 16  # the server's model changed under the endpoint
        rag.embedders.clear_embedders()
        with pytest.raises(RagDimensionMismatch, match="16"):
            rag.index_documents("kb", [{"id": "new", "content": "new text"}], settings=s)
        peer.dimension = 8
        assert rag.describe_endpoint("kb", settings=s).store.documents == 4
        rag.create_endpoint("fixed", embedder={"kind": "openai", "base_url": peer.url, "model": "toy",
                                               "api_key": "$env:OPENAI_API_KEY", "dimension": 12}, settings=s)
        with pytest.raises(RagDimensionMismatch, match="expects 12"):
            rag.index_documents("fixed", DOCS, settings=s)


def test_bad_queries_and_endpoints(s: Settings) -> None:
    rag.index_documents("kb", DOCS, settings=s)
    for bad in ({"query_text": ""}, {"query_text": "x" * 10_001}, {"query_text": "x", "top_k": 0},
                {"query_text": "x", "top_k": 101}, {"query_text": "x", "top_k": True}):
        with pytest.raises(RagError):
            rag.query("kb", **bad, settings=s)
    with pytest.raises(RagEndpointInvalid):
        rag.index_documents("../etc", DOCS, settings=s)
    with pytest.raises(RagEndpointInvalid, match="exists"):
        rag.create_endpoint("kb", settings=s)
    with pytest.raises(RagEndpointNotFound):
        rag.delete_documents("nope", ["pw"], settings=s)


def test_tenants_do_not_share_endpoints(s: Settings) -> None:
    rag.index_documents("kb", DOCS[:1], tenant="acme", settings=s)
    rag.index_documents("kb", DOCS[2:3], tenant="globex", settings=s)
    assert ids(rag.query("kb", "password invoice", top_k=5, tenant="acme", settings=s)) == ["pw"]
    assert ids(rag.query("kb", "password invoice", top_k=5, tenant="globex", settings=s)) == ["invoice"]
    with pytest.raises(RagEndpointNotFound):
        rag.query("kb", "password", settings=s)  # the settings' tenant has none
    odd = "ten/../ant"
    rag.index_documents("kb", DOCS[:1], tenant=odd, settings=s)
    folder = data_dir(s, odd, rag.get_endpoint("kb", tenant=odd, settings=s).id)
    assert folder.parent.parent == s.home / "rag" and folder.parent.name.startswith("t-")


def test_the_approximate_index_is_built_and_answers(s: Settings) -> None:
    rag.create_endpoint("big", store={"kind": "lancedb", "index_min_rows": 256}, settings=s)
    rag.create_endpoint("exact", store={"kind": "lancedb", "index": "exact", "index_min_rows": 256},
                        settings=s)
    topics = ["password", "invoice", "refund", "shipping", "warranty", "printer", "network", "battery"]
    colors = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white", "silver", "golden"]
    animals = ["falcon", "otter", "badger", "lynx", "heron"]
    docs: list[dict[str, Any]] = [{"id": f"d{i}", "metadata": {"topic": topics[i % 8]},
             "content": f"The {colors[i // 8 % 10]} {animals[i // 80]} asked about the {topics[i % 8]}"}
            for i in range(400)]
    rag.index_documents("big", docs, settings=s)
    rag.index_documents("exact", docs, settings=s)
    assert rag.describe_endpoint("big", settings=s).store.index == "IvfHnswSq"
    assert rag.describe_endpoint("exact", settings=s).store.index == "exact"
    for i in (3, 117, 250, 399):
        assert ids(rag.query("exact", docs[i]["content"], top_k=1, settings=s)) == [f"d{i}"]
        assert ids(rag.query("big", docs[i]["content"], top_k=1, settings=s)) == [f"d{i}"]
    # A filter matching one far document: the nearest chunks hold none of it, the prefiltered search finds it.
    rag.index_documents("big", [{"id": "needle", "content": "Quarterly tax forms for contractors",
                                 "metadata": {"topic": "rare"}}], settings=s)
    assert ids(rag.query("big", docs[5]["content"], top_k=3, filters={"topic": "rare"}, settings=s)) == [
        "needle"]
    filtered = rag.query("big", "Note about battery", top_k=5, filters={"topic": "battery"}, settings=s)
    assert len(filtered) == 5 and all(r["metadata"]["topic"] == "battery" for r in filtered)
    # The labels' index exists with the vector index, and a filter the labels do not answer alone
    # (postfilter first, then prefilter) finds the far document too.
    import lancedb

    folder = data_dir(s, s.tenant, rag.get_endpoint("big", settings=s).id)
    indexed = {c for i in lancedb.connect(str(folder)).open_table("chunks").list_indices() for c in i.columns}
    assert indexed == {"vector", "labels"}
    assert ids(rag.query("big", docs[5]["content"], top_k=3, filters={"topic": "rare", "x": {"$ne": 1}},
                         settings=s)) == ["needle"]


def test_a_table_made_before_the_labels_column_still_filters(s: Settings) -> None:
    import lancedb

    endpoint = rag.create_endpoint("old", settings=s)
    folder = data_dir(s, s.tenant, endpoint.id)
    folder.mkdir(parents=True)
    dimension = endpoint.config.embedder.dimension
    assert dimension is not None
    lancedb.connect(str(folder)).create_table("chunks", schema=_schema(dimension, labels=False))
    rag.index_documents("old", DOCS, settings=s)
    for filters, expected in [({"category": "billing"}, {"invoice", "refund"}),
                              ({"tags": "login"}, {"pw", "2fa"}),
                              ({"category": {"$in": ["security"]}, "year": {"$gte": 2020}}, {"2fa"})]:
        assert set(ids(rag.query("old", "account help", top_k=10, filters=filters, settings=s))) == expected


@pytest.mark.parametrize("dimension", [64, 256])
def test_wordllama_dimensions(s: Settings, dimension: int) -> None:
    rag.create_endpoint("kb", embedder={"kind": "wordllama", "dimension": dimension}, settings=s)
    rag.index_documents("kb", DOCS, settings=s)
    assert rag.describe_endpoint("kb", settings=s).store.dimension == dimension
    assert ids(rag.query("kb", "How do I reset my password?", top_k=1, settings=s)) == ["pw"]
    with pytest.raises(RagEndpointInvalid, match="64, 128, 256"):
        rag.create_endpoint("bad", embedder={"kind": "wordllama", "dimension": 100}, settings=s)


def test_delete_endpoint_removes_its_data(s: Settings) -> None:
    rag.index_documents("kb", DOCS, settings=s)
    folder = data_dir(s, s.tenant, rag.get_endpoint("kb", settings=s).id)
    assert folder.is_dir()
    assert rag.delete_endpoint("kb", settings=s) is True
    assert not folder.exists()
    assert rag.delete_endpoint("kb", settings=s) is False
    assert rag.list_endpoints(settings=s) == []
    with psycopg.connect(s.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM rag_endpoint").fetchone() == (0,)
    rag.index_documents("kb", DOCS[:1], settings=s)  # a new endpoint of the same slug starts empty
    assert ids(rag.query("kb", "billing invoice", top_k=5, settings=s)) == ["pw"]


def test_backslashes_and_quotes_in_ids_and_filter_values(s: Settings) -> None:
    odd = [{"id": "dir\\a", "content": "the backslash document about paths",
            "metadata": {"path": "C:\\dir\\x'y", "tags": ["a\\b", "\\"]}},
           {"id": "dir\\\\b", "content": "another document about paths", "metadata": {"path": "C:\\dir"}},
           {"id": "plain", "content": "a third document about paths", "metadata": {"path": "C:dirx'y"}}]
    assert rag.index_documents("kb", odd, settings=s) == 3
    for filters, expected in [({"path": "C:\\dir\\x'y"}, {"dir\\a"}), ({"path": "C:\\dir"}, {"dir\\\\b"}),
                              ({"path": {"$in": ["C:\\dir", "C:dirx'y"]}}, {"dir\\\\b", "plain"}),
                              ({"tags": "a\\b"}, {"dir\\a"}), ({"tags": "\\"}, {"dir\\a"}),
                              ({"path": {"$ne": "C:\\dir\\x'y"}}, {"dir\\\\b", "plain"})]:
        assert set(ids(rag.query("kb", "paths", top_k=10, filters=filters, settings=s))) == expected, filters
    rag.index_documents("kb", [{"id": "dir\\a", "content": "replaced text"}], settings=s)
    assert rag.describe_endpoint("kb", settings=s).store.chunks == 3  # the same id: replaced, not added
    rag.delete_documents("kb", ["dir\\a", "dir\\\\b"], settings=s)
    assert ids(rag.query("kb", "paths", top_k=10, settings=s)) == ["plain"]


def test_lone_surrogates_in_queries_and_ids_are_typed(s: Settings) -> None:
    rag.index_documents("kb", DOCS, settings=s)
    with pytest.raises(RagError, match="not valid Unicode"):
        rag.query("kb", "password \ud800", settings=s)
    with pytest.raises(RagFilterInvalid):
        rag.query("kb", "password", filters={"category": "\udfff"}, settings=s)
    with pytest.raises(RagFilterInvalid):
        rag.query("kb", "password", filters={"year": {"$gt": 10**400}}, settings=s)
    with pytest.raises(RagDocumentInvalid):
        rag.delete_documents("kb", ["pw\ud800"], settings=s)
    with pytest.raises(RagDocumentInvalid):
        rag.index_documents("kb", [{"id": "x", "content": "text", "metadata": {"k": "\ud800"}}], settings=s)
    assert rag.describe_endpoint("kb", settings=s).store.documents == 4
