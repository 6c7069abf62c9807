"""The openai embedder through the openai SDK against a local OpenAI-compatible ``/v1/embeddings``
server: the key from a reference, batches, the answer's dimension, failures as typed errors that never
quote the key."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import rag
from automate.config import Settings
from automate.db.context import close_pools
from automate.errors import RagDimensionMismatch, RagEndpointInvalid, RagUnavailable
from automate.secrets.admin import set_secret
from rag.embedders import clear_embedders
from rag.embedders.openai import BATCH
from tests.integration.rag_peers import EmbeddingsPeer, embeddings_server

pytestmark = pytest.mark.integration

KEY = "sk-local-test-0123456789"


@pytest.fixture
def s(db_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("RAG_TEST_OPENAI_KEY", KEY)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    clear_embedders()
    from automate.secrets.keys import key_file

    settings = Settings(**{**db_settings.model_dump(), "home": tmp_path / "home",
                           "secret_key_file": key_file(db_settings)})
    yield settings
    clear_embedders()
    close_pools(settings)


@pytest.fixture
def peer() -> Iterator[EmbeddingsPeer]:
    with embeddings_server(KEY, 32) as server:
        yield server


def _endpoint(s: Settings, peer: EmbeddingsPeer, slug: str = "kb", key: str = "$env:RAG_TEST_OPENAI_KEY",
              **extra: object) -> None:
    rag.create_endpoint(slug, embedder={"kind": "openai", "base_url": peer.url, "model": "toy-embed",
                                        "api_key": key, **extra}, settings=s)


def test_index_and_query_through_the_openai_sdk(s: Settings, peer: EmbeddingsPeer) -> None:
    set_secret(s, "EMBED_KEY", KEY, scopes=["connector:rag"])
    _endpoint(s, peer, key="$secret:EMBED_KEY", dimension=32)
    docs = [{"id": f"d{i}", "content": f"topic{i} alpha beta", "metadata": {"n": i}}
            for i in range(BATCH + 10)]
    docs.append({"id": "target", "content": "the printer jams on glossy paper", "metadata": {"n": -1}})
    assert rag.index_documents("kb", docs, settings=s) == len(docs)
    bodies = [json.loads(r.body) for r in peer.requests]
    assert [len(b["input"]) for b in bodies] == [BATCH, len(docs) - BATCH]  # batched
    assert {b["model"] for b in bodies} == {"toy-embed"}
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in peer.requests)
    results = rag.query("kb", "printer jams", top_k=3, settings=s)
    assert results[0]["id"] == "target" and results[0]["score"] > results[1]["score"]
    filtered = rag.query("kb", "printer jams", top_k=2, filters={"n": {"$gte": 0}}, settings=s)
    assert "target" not in {r["id"] for r in filtered}


def test_a_refused_key_is_typed_and_never_quoted(s: Settings, peer: EmbeddingsPeer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TEST_BAD_KEY", "sk-wrong-secret-value")
    _endpoint(s, peer, key="$env:RAG_TEST_BAD_KEY")
    with pytest.raises(RagEndpointInvalid, match="401") as failed:
        rag.index_documents("kb", [{"id": "a", "content": "text"}], settings=s)
    error = failed.value
    assert "sk-wrong-secret-value" not in str(error) and error.__cause__ is None and error.__context__ is None
    assert rag.describe_endpoint("kb", settings=s).store.chunks == 0  # nothing was written


def test_a_failing_server_is_retryable_and_writes_nothing(s: Settings, peer: EmbeddingsPeer) -> None:
    _endpoint(s, peer)
    rag.index_documents("kb", [{"id": "a", "content": "first text"}], settings=s)
    peer.status = 500
    with pytest.raises(RagUnavailable) as failed:
        rag.index_documents("kb", [{"id": "a", "content": "second text"}, {"id": "b", "content": "x"}],
                            settings=s)
    assert failed.value.retryable
    assert len(peer.requests) == 1 + 3  # the SDK retried twice
    peer.status = 200
    [hit] = rag.query("kb", "text", top_k=5, settings=s)
    assert (hit["id"], hit["content"]) == ("a", "first text")


def test_a_base_url_without_its_own_key_is_refused(s: Settings, peer: EmbeddingsPeer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the process's key must never go to the endpoint's host
    with pytest.raises(RagEndpointInvalid, match="needs its own api_key reference"):
        rag.create_endpoint("kb", embedder={"kind": "openai", "base_url": peer.url}, settings=s)
    assert peer.requests == []


def test_no_key_anywhere_is_a_configuration_error(s: Settings, peer: EmbeddingsPeer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", peer.url)  # the SDK's own settings: no base_url in the endpoint
    rag.create_endpoint("kb", embedder={"kind": "openai"}, settings=s)
    with pytest.raises(RagEndpointInvalid, match="no API key"):
        rag.index_documents("kb", [{"id": "a", "content": "text"}], settings=s)
    assert peer.requests == []


@pytest.mark.parametrize("answer", [b"[1, 2]", b"not json", b'{"data": "x"}',
                                    b'{"data": [{"embedding": "abc", "index": 0}]}',
                                    b'{"data": [{"embedding": [1, "x"], "index": 0}]}'])
def test_answers_out_of_the_apis_shape_are_typed(s: Settings, peer: EmbeddingsPeer, answer: bytes) -> None:
    _endpoint(s, peer)
    peer.raw = answer
    with pytest.raises(RagUnavailable):
        rag.index_documents("kb", [{"id": "a", "content": "text"}], settings=s)
    assert rag.describe_endpoint("kb", settings=s).store.chunks == 0  # nothing written


def test_vectors_of_differing_lengths_are_a_dimension_mismatch(s: Settings, peer: EmbeddingsPeer) -> None:
    _endpoint(s, peer)
    peer.ragged = True
    with pytest.raises(RagDimensionMismatch, match="differing lengths"):
        rag.index_documents("kb", [{"id": "a", "content": "text"}, {"id": "b", "content": "more"}],
                            settings=s)


def test_no_database_connection_is_held_while_embedding(s: Settings, peer: EmbeddingsPeer) -> None:
    _endpoint(s, peer)
    peer.gate = threading.Event()
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(
        rag.index_documents("kb", [{"id": "a", "content": "text"}], settings=s)))
    thread.start()
    try:
        while not peer.requests:  # the call is now inside the embedder, waiting for the server
            assert thread.is_alive()
            time.sleep(0.01)
        with psycopg.connect(s.dsn, autocommit=True) as conn:
            open_transactions = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%%'").fetchone()
    finally:
        peer.gate.set()
        thread.join()
    assert open_transactions == (0,)
    assert done == [1]


def test_an_endpoint_created_meanwhile_with_another_configuration_is_used(
        s: Settings, peer: EmbeddingsPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", peer.url)
    defaults = Settings(**{**s.model_dump(), "rag_embedder": "openai"})
    peer.gate = threading.Event()
    done: list[int] = []
    text = " ".join(f"word{i}" for i in range(60))  # 1 chunk at the default size, several at 100
    thread = threading.Thread(target=lambda: done.append(
        rag.index_documents("kb", [{"id": "a", "content": text}], settings=defaults)))
    thread.start()
    try:
        while not peer.requests:  # the first call embeds with the defaults (the endpoint is unknown)
            assert thread.is_alive()
            time.sleep(0.01)
        rag.create_endpoint("kb", embedder="openai", chunk_size=100, chunk_overlap=0, settings=defaults)
    finally:
        peer.gate.set()
        thread.join()
    assert done == [1]
    assert rag.get_endpoint("kb", settings=s).config.chunk_size == 100
    assert rag.describe_endpoint("kb", settings=s).store.chunks > 1  # chunked again with the stored config
