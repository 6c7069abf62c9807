"""Benchmark: retrieval quality and speed of ``rag``, and LanceDB against the alternatives (issue 15).

Run from the repository root, with the local stack's Postgres up (``automate up``)::

    .venv/bin/python tests/bench/bench_rag.py [--docs 1124] [--chunks 100000] [--runs 3] [--queries 300]
        [--dim 128] [--skip-quality] [--skip-speed] [--out report.json]

Everything runs in a throwaway database (created, migrated, dropped) and a throwaway ``AUTOMATE_HOME``.

1. Quality, on the labelled set of ``rag_corpus`` (1,124 documents, 300 paraphrased questions): each
   configuration indexes the corpus into a fresh endpoint through ``rag.index_documents`` and answers
   every question through ``rag.query(top_k=10)``; recall@5 (share of questions whose labelled document
   is among the first five) and MRR@10, without and with a ``{"product": ...}`` filter. Rows: wordllama
   (``--dim`` dimensions, and the others on LanceDB exact) on LanceDB exact / auto (the default) /
   IVF_HNSW_SQ / IVF_PQ (the approximate ones forced from 256
   rows on, so the small corpus goes through them), exact with 160-character chunks (2-3 per document,
   so chunking and the per-document ranking are exercised); the ``openai`` embedder against a local
   OpenAI-compatible ``/v1/embeddings`` server that serves wordllama's vectors cut to 64/128/256
   dimensions (Matryoshka truncation; it measures the openai code path and what a smaller dimension
   costs, nothing about OpenAI's models, which cannot be reached here); Pinecone through the local
   data-plane server of the rag tests when there is one. Beside them, without rag: a TF-IDF baseline
   (how far word overlap alone gets) and wordllama with numpy exact search at 256/128/64 dimensions.
2. Speed: ``--chunks`` synthetic chunks (the corpus's articles over more products; the first 960 are the
   labelled set's articles, so its questions still have answers) indexed into a default endpoint
   (wordllama at ``--dim``, LanceDB ``auto``) in calls of 2,000: chunks/s. Then query latency end to end
   (``rag.query``, top 5: embedding, the endpoint's row from Postgres, the search), p50 and p99 over
   ``--queries`` questions, median of ``--runs`` rounds, without filter and with a filter on the product
   line (1/8 of the rows) and on the product (20 rows).
3. The store alone, same 100,000 vectors, same queries (vector in, ids out): LanceDB as rag uses it
   (IVF_HNSW_SQ, nprobes/refine of the endpoint) and exact, numpy brute force, and usearch's HNSW when
   installed (``pip install usearch``: the benchmark only, not a project dependency); with and without a
   filter on the product line (LanceDB: rag's filter; numpy: a mask over a column). Latency, build time,
   recall@10 against the exact answer (a found chunk counts when its similarity reaches the exact 10th
   best: the corpus has many near-twin chunks of equal score), and the labelled recall@5.

Prints markdown tables (and JSON with ``--out``). Not part of the pytest run.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("LANCE_LOG", "error")  # lance's deprecation notices on stderr, once per query

import numpy as np
import psycopg
from rag_corpus import Corpus, Question, build, speed_documents

import rag
from automate.config import Settings, get_settings
from automate.db import dsn_of_database, migrate
from automate.db.admin import DatabaseAdmin
from rag.config import WORDLLAMA_DIMENSION, WORDLLAMA_DIMENSIONS
from tests.integration.peers import Recorded, http_peer
from tests.integration.rag_peers import pinecone_server

BATCH = 2_000  # documents per index_documents call (rag's limit)
TOP = 10
KEY_ENV = "BENCH_LOCAL_KEY"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def bench_settings(base: Settings) -> Iterator[Settings]:
    """Settings for a new migrated database and a new home directory, both removed afterwards."""
    name = f"automate_bench_rag_{uuid.uuid4().hex[:10]}"
    home = Path(tempfile.mkdtemp(prefix="automate-bench-rag-"))
    with psycopg.connect(base.dsn, autocommit=True) as conn:
        DatabaseAdmin(conn).create(name)
    settings = Settings(**{**base.model_dump(), "database_url": dsn_of_database(base, name), "home": home})
    try:
        with psycopg.connect(settings.dsn) as conn:
            migrate(conn)
        yield settings
    finally:
        from automate.db.context import close_pools

        close_pools(settings)
        with psycopg.connect(base.dsn, autocommit=True) as conn:
            DatabaseAdmin(conn).drop(name)
        shutil.rmtree(home, ignore_errors=True)


def batched(items: Sequence[Any] | Iterator[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def ranked_docs(results: Sequence[dict[str, Any]]) -> list[str]:
    """Document ids in rank order, once each (a result's id may be a chunk's: ``<doc>#<n>``)."""
    seen: list[str] = []
    for result in results:
        doc = str(result["id"]).split("#")[0]
        if doc not in seen:
            seen.append(doc)
    return seen


def quality(rankings: Sequence[Sequence[str]], questions: Sequence[Question]) -> dict[str, float]:
    recall = mrr = 0.0
    for ranked, question in zip(rankings, questions, strict=True):
        relevant = set(question.relevant)
        recall += len(relevant & set(ranked[:5])) / len(relevant)
        mrr += next((1 / (at + 1) for at, doc in enumerate(ranked[:TOP]) if doc in relevant), 0.0)
    return {"recall@5": round(recall / len(questions), 3), "mrr@10": round(mrr / len(questions), 3)}


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def timed(calls: Sequence[Callable[[], Any]]) -> tuple[list[float], list[Any]]:
    took, answers = [], []
    for call in calls:
        start = time.perf_counter()
        answers.append(call())
        took.append((time.perf_counter() - start) * 1000)
    return took, answers


# --- 1. quality ----------------------------------------------------------------------------------------


def rag_quality(settings: Settings, slug: str, corpus: Corpus, *, embedder: Any, store: Any,
                chunk_size: int | None = None, chunk_overlap: int | None = None) -> dict[str, Any]:
    """Index the corpus into a new endpoint ``slug``; ask every question, plain and filtered."""
    rag.create_endpoint(slug, embedder=embedder, store=store, chunk_size=chunk_size,
                        chunk_overlap=chunk_overlap, settings=settings)
    start = time.perf_counter()
    for batch in batched(corpus.documents, BATCH):
        rag.index_documents(slug, batch, settings=settings)
    indexing = time.perf_counter() - start
    asked = corpus.questions
    took, answers = timed([lambda q=q: rag.query(slug, q.text, top_k=TOP, settings=settings) for q in asked])
    row: dict[str, Any] = {**quality([ranked_docs(a) for a in answers], asked),
                           "index_docs_per_s": round(len(corpus.documents) / indexing),
                           "query_p50_ms": round(statistics.median(took), 2)}
    answers = [rag.query(slug, q.text, top_k=TOP, filters={"product": q.product}, settings=settings)
               for q in asked]
    row.update({f"{k} filtered": v for k, v in quality([ranked_docs(a) for a in answers], asked).items()})
    rag.delete_endpoint(slug, settings=settings)
    return row


def tfidf_baseline(corpus: Corpus) -> dict[str, float]:
    """Cosine over sublinear TF-IDF of lower-cased words: what word overlap alone finds."""
    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", text.lower())

    docs = [words(d["content"]) for d in corpus.documents]
    vocab = {w: i for i, w in enumerate(sorted({w for doc in docs for w in doc}))}
    df = np.zeros(len(vocab))
    for doc in docs:
        df[[vocab[w] for w in set(doc)]] += 1
    idf = np.log(len(docs) / df) + 1

    def vector(tokens: list[str]) -> Any:
        out = np.zeros(len(vocab))
        for w in tokens:
            if w in vocab:
                out[vocab[w]] += 1
        out = np.where(out > 0, 1 + np.log(np.maximum(out, 1)), 0) * idf
        return out / (np.linalg.norm(out) or 1)

    matrix = np.stack([vector(doc) for doc in docs])
    ids = [d["id"] for d in corpus.documents]
    rankings = [[ids[i] for i in np.argsort(-(matrix @ vector(words(q.text))))[:TOP]]
                for q in corpus.questions]
    return quality(rankings, corpus.questions)


_models: dict[int, Any] = {}


def wordllama(dim: int = 256) -> Any:
    """WordLlama loaded offline as rag loads it, cut to ``dim`` dimensions (Matryoshka) when < 256."""
    if dim not in _models:
        import wordllama as package
        from wordllama import WordLlama

        _models[dim] = WordLlama.load(cache_dir=Path(package.__file__).parent, disable_download=True,
                                      trunc_dim=None if dim == 256 else dim)
    return _models[dim]


def wordllama_exact(corpus: Corpus, dim: int) -> dict[str, float]:
    model = wordllama(dim)
    matrix = model.embed([d["content"] for d in corpus.documents], norm=True)
    ids = [d["id"] for d in corpus.documents]
    scores = model.embed([q.text for q in corpus.questions], norm=True) @ matrix.T
    return quality([[ids[i] for i in np.argsort(-row)[:TOP]] for row in scores], corpus.questions)


@contextlib.contextmanager
def embeddings_server() -> Iterator[str]:
    """A local OpenAI-compatible ``POST /v1/embeddings``: model ``wordllama-<dim>`` answers wordllama's
    vectors cut to ``dim`` and normalised again."""
    def respond(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        if request.method != "POST" or not request.path.endswith("/embeddings"):
            return 404, {"Content-Type": "application/json"}, b'{"error": {"message": "not found"}}'
        body = json.loads(request.body)
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        dim = int(str(body["model"]).rsplit("-", 1)[1])
        vectors = wordllama(dim).embed(texts, norm=True)
        data = [{"object": "embedding", "index": i, "embedding": [float(x) for x in row]}
                for i, row in enumerate(vectors)]
        answer = {"object": "list", "data": data, "model": body["model"],
                  "usage": {"prompt_tokens": 0, "total_tokens": 0}}
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    with http_peer(respond) as peer:
        yield f"{peer.url}/v1"


def run_quality(settings: Settings, corpus: Corpus, dim: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"embedder": "(none: TF-IDF words)", "store": "numpy exact",
                                   **tfidf_baseline(corpus)}]
    for size in (256, 128, 64):
        rows.append({"embedder": f"wordllama {size} (direct)", "store": "numpy exact",
                     **wordllama_exact(corpus, size)})
    os.environ[KEY_ENV] = "bench-local-key"  # the local servers' key, read through $env:
    rag.index_documents("warm-up", corpus.documents[:2], settings=settings)  # loads rag's wordllama model
    wordllama(dim).embed(["warm"])
    embedder = {"kind": "wordllama", "dimension": dim}
    stores = {"lancedb exact": {"kind": "lancedb", "index": "exact"},
              "lancedb auto (default)": "lancedb",
              "lancedb ivf_hnsw_sq": {"kind": "lancedb", "index": "ivf_hnsw_sq", "index_min_rows": 256},
              "lancedb ivf_pq": {"kind": "lancedb", "index": "ivf_pq", "index_min_rows": 256}}
    for n, (label, store) in enumerate(stores.items()):
        log(f"quality: wordllama {dim} / {label}")
        rows.append({"embedder": f"wordllama {dim}", "store": label,
                     **rag_quality(settings, f"q-store-{n}", corpus, embedder=embedder, store=store)})
    for other in (d for d in (64, 128, 256) if d != dim):
        log(f"quality: wordllama {other} / lancedb exact")
        rows.append({"embedder": f"wordllama {other}", "store": "lancedb exact", **rag_quality(
            settings, f"q-wordllama-{other}", corpus, embedder={"kind": "wordllama", "dimension": other},
            store={"kind": "lancedb", "index": "exact"})})
    log(f"quality: wordllama {dim} / lancedb exact, chunks of 160 characters (overlap 32)")
    rows.append({"embedder": f"wordllama {dim}", "store": "lancedb exact, 160-char chunks", **rag_quality(
        settings, "q-chunked", corpus, embedder=embedder, store={"kind": "lancedb", "index": "exact"},
        chunk_size=160, chunk_overlap=32)})
    with embeddings_server() as url:
        wordllama(dim)
        log(f"quality: openai embedder (local server, wordllama-{dim}) / lancedb exact")
        remote = {"kind": "openai", "model": f"wordllama-{dim}", "dimension": dim, "base_url": url,
                  "api_key": f"$env:{KEY_ENV}"}
        rows.append({"embedder": f"openai API, local server ({dim})", "store": "lancedb exact",
                     **rag_quality(settings, f"q-openai-{dim}", corpus, embedder=remote,
                                   store={"kind": "lancedb", "index": "exact"})})
    log("quality: wordllama / pinecone (local data-plane server)")
    with pinecone_server("bench-local-key", dim) as peer:
        store = {"kind": "pinecone", "host": peer.url, "api_key": f"$env:{KEY_ENV}"}
        rows.append({"embedder": f"wordllama {dim}", "store": "pinecone (local server)",
                     **rag_quality(settings, "q-pinecone", corpus, embedder=embedder, store=store)})
    return rows


# --- 2. speed ------------------------------------------------------------------------------------------


def latency(calls: Sequence[Callable[[], Any]], runs: int) -> dict[str, float]:
    """p50/p99 (ms) of ``calls``, median over ``runs`` rounds (after one warm-up pass of 20)."""
    timed(calls[:20])
    p50, p99 = [], []
    for _ in range(runs):
        took, _answers = timed(calls)
        p50.append(statistics.median(took))
        p99.append(percentile(took, 0.99))
    return {"p50_ms": round(statistics.median(p50), 2), "p99_ms": round(statistics.median(p99), 2)}


def run_speed(settings: Settings, corpus: Corpus, chunks: int, runs: int, queries: int, dim: int
              ) -> dict[str, Any]:
    slug = "speed"
    rag.create_endpoint(slug, embedder={"kind": "wordllama", "dimension": dim}, settings=settings)
    batch_s: list[float] = []
    for batch in batched(speed_documents(chunks), BATCH):
        start = time.perf_counter()
        rag.index_documents(slug, batch, settings=settings)
        batch_s.append(time.perf_counter() - start)
        if len(batch_s) % 10 == 0:
            log(f"speed: {len(batch_s) * BATCH} chunks indexed, last call {batch_s[-1]:.2f} s")
    total = sum(batch_s)
    indexing = {"chunks": chunks, "seconds": round(total, 1), "chunks_per_s": round(chunks / total),
                "calls": len(batch_s), "call_median_s": round(statistics.median(batch_s), 2),
                "slow_calls": {f"{(n + 1) * BATCH} chunks": round(t, 1) for n, t in enumerate(batch_s)
                               if t > 4 * statistics.median(batch_s)}}
    asked = [corpus.questions[i % len(corpus.questions)] for i in range(queries)]
    lines = {d["metadata"]["product"]: d["metadata"]["line"] for d in corpus.documents
             if "product" in d["metadata"]}
    variants: dict[str, Callable[[Question], Any]] = {
        "no filter": lambda q: None,
        "filter line (1/8 of rows)": lambda q: {"line": lines[q.product]},
        "filter product (20 rows)": lambda q: {"product": q.product},
    }
    query: dict[str, Any] = {}
    for name, make in variants.items():
        log(f"speed: query latency, {name}")
        pairs = [(q, make(q)) for q in asked]
        calls = [lambda q=q, f=f: rag.query(slug, q.text, top_k=5, filters=f, settings=settings)
                 for q, f in pairs]
        query[name] = latency(calls, runs)
        answers = [ranked_docs(rag.query(slug, q.text, top_k=TOP, filters=make(q), settings=settings))
                   for q in corpus.questions]
        query[name]["recall@5"] = quality(answers, corpus.questions)["recall@5"]
    model = wordllama(dim)
    query["(wordllama embedding of the question alone)"] = latency(
        [lambda q=q: model.embed([q.text], norm=True) for q in asked], runs)
    return {"indexing": indexing, "query": query}


# --- 3. the store alone: LanceDB against the alternatives ------------------------------------------------


def run_stores(settings: Settings, corpus: Corpus, runs: int) -> list[dict[str, Any]]:
    """Store-level search over the speed endpoint's vectors, against numpy and usearch over the same."""
    import lancedb

    from rag.endpoints import get_endpoint
    from rag.stores import open_store
    from rag.stores.lancedb import TABLE, data_dir

    endpoint = get_endpoint("speed", settings=settings)
    store = open_store(endpoint, settings=settings)
    table = lancedb.connect(str(data_dir(settings, endpoint.tenant, endpoint.id))).open_table(TABLE)
    log("stores: reading the endpoint's vectors")
    arrow = table.search().select(["doc", "meta", "vector"]).limit(None).to_arrow()
    ids = arrow.column("doc").to_pylist()
    row_of = {doc: at for at, doc in enumerate(ids)}
    line_of = np.array([json.loads(m)["line"] for m in arrow.column("meta").to_pylist()])
    vectors = np.array(arrow.column("vector").combine_chunks().flatten().to_numpy(), dtype=np.float32)
    vectors = vectors.reshape(len(ids), -1)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    asked = corpus.questions
    lines = {d["metadata"]["product"]: d["metadata"]["line"] for d in corpus.documents
             if "product" in d["metadata"]}
    qvec = wordllama(int(vectors.shape[1])).embed([q.text for q in asked], norm=True).astype(np.float32)
    # The 10th best exact similarity of each query: a found chunk counts when it scores as high, so that
    # the many near-twin chunks (equal scores) do not count against an index that returns another twin.
    tenth = [float(np.sort(vectors @ v)[-TOP]) for v in qvec]

    def row(name: str, build_s: float | None, search: Callable[[Any, str], list[str]],
            filtered: bool = False) -> dict[str, Any]:
        log(f"stores: {name}")
        where = [lines[q.product] if filtered else "" for q in asked]
        numbers = latency([lambda v=v, w=w: search(v, w) for v, w in zip(qvec, where, strict=True)], runs)
        found = [search(v, w) for v, w in zip(qvec, where, strict=True)]
        out = {"store": name, **numbers, "build_s": None if build_s is None else round(build_s, 1)}
        if not filtered:
            out["recall@10 vs exact"] = round(statistics.mean(
                sum(float(vectors[row_of[d]] @ v) >= t - 1e-5 for d in f[:TOP]) / TOP
                for f, v, t in zip(found, qvec, tenth, strict=True)), 3)
            out["labelled recall@5"] = quality(found, asked)["recall@5"]
        return out

    def numpy_exact(v: Any, line: str) -> list[str]:
        rows = np.flatnonzero(line_of == line) if line else None
        scores = vectors @ v if rows is None else vectors[rows] @ v
        top = np.argpartition(-scores, TOP)[:TOP]
        top = top[np.argsort(-scores[top])]
        return [ids[i] for i in (top if rows is None else rows[top])]

    def lance(v: Any, line: str) -> list[str]:
        return [h.doc for h in store.search(v, TOP, {"line": line} if line else None)]

    index_type = store.stats().index
    config = endpoint.config.store
    rows = [
        row(f"lancedb as rag uses it ({index_type}, nprobes {config.nprobes}, refine {config.refine_factor})",
            None, lance),
        row("lancedb as rag uses it, filter line (rag's filter path)", None, lance, filtered=True),
        row("lancedb exact (bypass the index)", None,
            lambda v, _: table.search(v).distance_type("cosine").bypass_vector_index().limit(TOP)
            .select(["doc", "_distance"]).to_arrow().column("doc").to_pylist()),
        row("numpy brute force (in memory)", 0.0, numpy_exact),
        row("numpy brute force, filter line (mask over a column)", 0.0, numpy_exact, filtered=True),
    ]
    try:
        from usearch.index import Index
    except ImportError:
        rows.append({"store": "usearch HNSW: skipped (pip install usearch)"})
    else:
        index = Index(ndim=vectors.shape[1], metric="cos", dtype="f32")
        start = time.perf_counter()
        index.add(np.arange(len(ids)), vectors)
        built = time.perf_counter() - start
        for ef in (index.expansion_search, 256):
            index.expansion_search = ef
            rows.append(row(f"usearch HNSW f32 (in memory, M {index.connectivity}, ef {ef})", built,
                            lambda v, _: [ids[k] for k in index.search(v, TOP).keys]))
    folder = data_dir(settings, endpoint.tenant, endpoint.id)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    rows.append({"store": f"(lancedb on disk: {size / 1e6:.0f} MB for {len(ids)} chunks, "
                          f"{len(table.list_versions())} versions; numpy in memory: "
                          f"{vectors.nbytes / 1e6:.0f} MB of vectors)"})
    # rag's maintenance removes versions older than its grace period (10 minutes): all of these, then.
    took, _ = timed([lambda: table.optimize(cleanup_older_than=timedelta(0))])
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    rows.append({"store": f"(lancedb on disk once the old versions are removed: {size / 1e6:.0f} MB, "
                          f"{len(table.list_versions())} versions; optimize {took[0] / 1000:.1f} s)"})
    return rows


# --- report --------------------------------------------------------------------------------------------


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join("" if row.get(c) is None else str(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1124, help="about this many labelled documents")
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the speed endpoint")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds (medians)")
    parser.add_argument("--queries", type=int, default=300, help="queries per timed round")
    parser.add_argument("--dim", type=int, default=WORDLLAMA_DIMENSION, choices=WORDLLAMA_DIMENSIONS,
                        help="wordllama's dimension for the speed endpoint and the quality rows")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    import wordllama  # noqa: F401  (its import calls logging.basicConfig(level=INFO))
    logging.getLogger().setLevel(logging.WARNING)

    corpus = build(products=max(2, round(args.docs * 48 / 1124)))
    report: dict[str, Any] = {"documents": len(corpus.documents), "questions": len(corpus.questions)}
    began = time.perf_counter()
    with bench_settings(get_settings()) as settings:
        if not args.skip_quality:
            report["quality"] = run_quality(settings, corpus, args.dim)
        if not args.skip_speed:
            report["speed"] = run_speed(settings, corpus, args.chunks, args.runs, args.queries, args.dim)
            report["stores"] = run_stores(settings, corpus, args.runs)
    report["seconds"] = round(time.perf_counter() - began)
    print(f"\n## Retrieval quality: {report['documents']} documents, {report['questions']} questions\n")
    if "quality" in report:
        print(table(report["quality"], ["embedder", "store", "recall@5", "mrr@10", "recall@5 filtered",
                                        "mrr@10 filtered", "index_docs_per_s", "query_p50_ms"]))
    if "speed" in report:
        indexing = report["speed"]["indexing"]
        print(f"\n## Speed: {indexing['chunks']} chunks, wordllama {args.dim} + LanceDB (auto index)\n")
        print(f"Indexing: {indexing['chunks_per_s']} chunks/s ({indexing['seconds']} s in "
              f"{indexing['calls']} calls of {BATCH}; a call's median {indexing['call_median_s']} s; "
              f"slow calls, by the table's size after them: {indexing['slow_calls']})\n")
        rows = [{"query (rag.query, top 5)": name, **numbers}
                for name, numbers in report["speed"]["query"].items()]
        print(table(rows, ["query (rag.query, top 5)", "p50_ms", "p99_ms", "recall@5"]))
        print(f"\n## The store alone: {indexing['chunks']} vectors, {len(corpus.questions)} queries, "
              "top 10\n")
        print(table(report["stores"], ["store", "p50_ms", "p99_ms", "recall@10 vs exact",
                                       "labelled recall@5", "build_s"]))
    print(f"\n({report['seconds']} s; {args.runs} runs of {args.queries} queries)")
    if args.out:
        with open(args.out, "w") as out:
            json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
