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
                                          "nprobes": 24, "refine_factor": 4}}
    assert endpoint_config(config.to_json(), settings=Settings()) == config


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
