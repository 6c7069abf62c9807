"""Documents and endpoint configurations: every bad input is a typed error naming what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from automate.config import Settings
from automate.errors import RagDocumentInvalid, RagEndpointInvalid
from rag.config import check_slug, endpoint_config
from rag.documents import MAX_DOCUMENTS, check_documents


def test_a_good_document() -> None:
    [doc] = check_documents([{"id": "doc-001", "content": "text", "metadata": {"category": "a", "n": 1,
                                                                                "ok": True, "tags": ["x"]}}])
    assert (doc.id, doc.content, dict(doc.metadata)) == ("doc-001", "text", {"category": "a", "n": 1,
                                                                             "ok": True, "tags": ["x"]})


@pytest.mark.parametrize(("documents", "message"), [
    ([{"content": "x"}], "needs an id"),
    ([{"id": "a"}], "needs content"),
    ([{"id": "a", "content": "  "}], "needs content"),
    ([{"id": "", "content": "x"}], "needs an id"),
    ([{"id": "a#1", "content": "x"}], "needs an id"),
    ([{"id": "a\n", "content": "x"}], "needs an id"),
    ([{"id": 7, "content": "x"}], "needs an id"),
    ([{"id": "a" * 201, "content": "x"}], "needs an id"),
    ([{"id": "a", "content": "x"}, {"id": "a", "content": "y"}], "twice"),
    ([{"id": "a", "content": "x", "extra": 1}], "fields other than"),
    ([{"id": "a", "content": "x" * 1_000_001}], "content over"),
    ([{"id": "a", "content": "x", "metadata": {"k": None}}], "values are"),
    ([{"id": "a", "content": "x", "metadata": {"k": {"nested": 1}}}], "values are"),
    ([{"id": "a", "content": "x", "metadata": {"k": [1, 2]}}], "lists hold"),
    ([{"id": "a", "content": "x", "metadata": {"k": float("nan")}}], "finite"),
    ([{"id": "a", "content": "x", "metadata": {"_doc": "x"}}], "metadata key"),
    ([{"id": "a", "content": "x", "metadata": {"a-b": "x"}}], "metadata key"),
    ([{"id": "a", "content": "x", "metadata": {f"k{i}": "v" for i in range(33)}}], "keys"),
    ([{"id": "a", "content": "x", "metadata": {f"k{i}": "v" * 900 for i in range(6)}}], "bytes"),
    ([], "1 to"),
    ([{"id": str(i), "content": "x"} for i in range(MAX_DOCUMENTS + 1)], "1 to"),
    ({"id": "a", "content": "x"}, "a list"),
    ("doc", "a list"),
    (["doc"], "not an object"),
])
def test_bad_documents(documents: Any, message: str) -> None:
    with pytest.raises(RagDocumentInvalid, match=message):
        check_documents(documents)


def test_the_message_never_quotes_content() -> None:
    with pytest.raises(RagDocumentInvalid) as failed:
        check_documents([{"id": "a", "content": "secret-text", "metadata": {"k": None}}])
    assert "secret-text" not in str(failed.value)


def test_endpoint_defaults_come_from_settings() -> None:
    config = endpoint_config(None, settings=Settings(rag_chunk_size=500, rag_chunk_overlap=20))
    assert config.to_json() == {"chunk_size": 500, "chunk_overlap": 20,
                                "embedder": {"kind": "wordllama", "model": "l2_supercat", "dimension": 256},
                                "store": {"kind": "lancedb", "index": "auto", "index_min_rows": 20_000,
                                          "nprobes": 24, "refine_factor": 4, "ef": 640}}
    assert endpoint_config(config.to_json(), settings=Settings()) == config


def test_lancedb_ef_is_configurable_and_checked() -> None:
    config = endpoint_config(None, settings=Settings(), store={"kind": "lancedb", "ef": 1000})
    assert config.store.ef == 1000 and endpoint_config(config.to_json(), settings=Settings()) == config
    # a configuration stored before ef existed reads the default
    assert endpoint_config({"store": {"kind": "lancedb", "nprobes": 24}}, settings=Settings()).store.ef == 640
    for bad in (0, -1, 100_001, "320", True, 1.5):
        with pytest.raises(RagEndpointInvalid, match="ef must be"):
            endpoint_config(None, settings=Settings(), store={"kind": "lancedb", "ef": bad})
    with pytest.raises(RagEndpointInvalid, match="pinecone store takes"):
        endpoint_config(None, settings=Settings(),
                        store={"kind": "pinecone", "host": "https://x.io", "ef": 64})


@pytest.mark.parametrize("overrides", [
    {"embedder": "word2vec"},
    {"store": "faiss"},
    {"store": {"kind": "lancedb", "index": "hnsw"}},
    {"store": {"kind": "lancedb", "host": "https://x.io"}},
    {"store": {"kind": "pinecone"}},
    {"store": {"kind": "pinecone", "host": "https://x.io", "api_key": "pcsk_literal_key"}},
    {"embedder": {"kind": "openai", "api_key": "sk-literal"}},
    {"embedder": {"kind": "openai", "dimension": 0}},
    {"embedder": {"kind": "openai", "base_url": "file:///etc/passwd"}},
    {"embedder": {"kind": "wordllama", "dimension": 512}},
    {"embedder": {"kind": "openai", "unknown": 1}},
    {"chunk_size": 5},
    {"chunk_size": 100, "chunk_overlap": 60},
    {"chunk_size": True},
])
def test_bad_endpoint_configurations(overrides: dict[str, Any]) -> None:
    with pytest.raises(RagEndpointInvalid):
        endpoint_config(None, settings=Settings(), **overrides)


def test_credentials_are_references() -> None:
    config = endpoint_config(None, settings=Settings(), embedder={"kind": "openai", "api_key": "$secret:OAI",
                                                                   "dimension": 8},
                             store={"kind": "pinecone", "host": "https://i.svc.pinecone.io",
                                    "api_key": "$env:PINECONE_KEY"})
    assert config.embedder.api_key == "$secret:OAI" and config.store.api_key == "$env:PINECONE_KEY"


@pytest.mark.parametrize("slug", ["Support", "../x", "a/b", "", "-a", "a" * 64, "a.b", "a\n", None])
def test_bad_slugs(slug: Any) -> None:
    with pytest.raises(RagEndpointInvalid):
        check_slug(slug)


@pytest.mark.parametrize("document", [
    {"id": "a", "content": "text \ud800"},
    {"id": "a", "content": "text", "metadata": {"k": "\udfff"}},
    {"id": "a", "content": "text", "metadata": {"tags": ["ok", "\ud800"]}},
    {"id": "\ud800", "content": "text"},
])
def test_lone_surrogates_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(RagDocumentInvalid):
        check_documents([document])


def test_a_base_url_needs_its_own_key_reference() -> None:
    settings = Settings()
    with pytest.raises(RagEndpointInvalid, match="needs its own api_key"):
        endpoint_config(None, settings=settings, embedder={"kind": "openai", "base_url": "http://h/v1"})
    config = endpoint_config(None, settings=settings, embedder={"kind": "openai", "base_url": "http://h/v1",
                                                                "api_key": "$env:K"})
    assert config.embedder.api_key == "$env:K"


def test_pinecone_namespaces_are_suffixes_never_uuids() -> None:
    from rag.stores.pinecone import pinecone_namespace

    with pytest.raises(RagEndpointInvalid, match="uuid"):
        endpoint_config(None, settings=Settings(), store={
            "kind": "pinecone", "host": "https://h", "namespace": "123e4567-e89b-12d3-a456-426614174000"})
    assert pinecone_namespace("acme", "id-1", "docs") == "acme.docs"
    assert pinecone_namespace("acme", "id-1", None) == "acme.id-1"
    assert pinecone_namespace("a.b/c", "id-1", "docs").startswith("t-")  # a tenant folder holds no '.'


def test_upsert_batches_stay_under_the_byte_budget() -> None:
    import json

    from rag.stores.pinecone import UPSERT_BATCH, UPSERT_BYTES, upsert_batches

    records = [{"id": f"d{i}#0", "values": [0.1] * 256, "metadata": {"_content": "字" * 8000}}
               for i in range(250)]
    batches = upsert_batches(records)
    assert [r for b in batches for r in b] == records
    assert all(len(b) <= UPSERT_BATCH and len(json.dumps(b).encode()) <= UPSERT_BYTES for b in batches)
    assert len(upsert_batches(records[:3])) == 1
