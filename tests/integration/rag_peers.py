"""Local wire-protocol peers for the retrieval tests: Pinecone's data-plane REST API (upsert, query with
metadata filters, delete, describe_index_stats, list) and an OpenAI-compatible ``/v1/embeddings``
server. The real SDKs (pinecone, openai) talk to them over loopback HTTP."""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.integration.peers import HttpPeer, Recorded, http_peer

__all__ = ["EmbeddingsPeer", "PineconePeer", "embeddings_server", "pinecone_server", "toy_embedding"]

_JSON = {"Content-Type": "application/json"}


def _answer(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, dict(_JSON), json.dumps(body).encode()


# --- Pinecone data plane ---------------------------------------------------------------------------------


def _matches(metadata: dict[str, Any], flt: dict[str, Any]) -> bool:
    """Pinecone's filter semantics, as its documentation states them."""
    for key, cond in flt.items():
        if key == "$and":
            if not all(_matches(metadata, each) for each in cond):
                return False
        elif key == "$or":
            if not any(_matches(metadata, each) for each in cond):
                return False
        elif isinstance(cond, dict):
            if not all(_condition(metadata, key, op, arg) for op, arg in cond.items()):
                return False
        elif not _condition(metadata, key, "$eq", cond):
            return False
    return True


def _condition(metadata: dict[str, Any], key: str, op: str, arg: Any) -> bool:
    present = key in metadata
    value = metadata.get(key)
    values = value if isinstance(value, list) else [value]

    def equal(x: Any) -> bool:
        return present and any((v == x and isinstance(v, bool) is isinstance(x, bool)) for v in values)

    if op == "$eq":
        return equal(arg)
    if op == "$ne":
        return not equal(arg)
    if op == "$in":
        return any(equal(x) for x in arg)
    if op == "$nin":
        return not any(equal(x) for x in arg)
    if op == "$exists":
        return present is bool(arg)
    if not present or isinstance(value, (bool, str, list)):
        return False
    return bool({"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg, "$lte": value <= arg}[op])


@dataclass
class PineconePeer:
    api_key: str
    dimension: int
    url: str = ""
    namespaces: dict[str, dict[str, tuple[list[float], dict[str, Any]]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    upserts_allowed: int | None = None  # upserts answered before every further one fails (400)

    def respond(self, request: Recorded) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(request)
        if len(request.body or b"") > 2 * 1024 * 1024:  # Pinecone's limit per request
            return _answer(400, {"error": {"code": "INVALID_ARGUMENT",
                                           "message": "Request size exceeds 2MB"}})
        if request.headers.get("api-key") != self.api_key:
            return _answer(401, {"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}})
        url = urlsplit(request.path)
        body = json.loads(request.body or b"{}") if request.method == "POST" else {}
        with self.lock:
            if url.path == "/vectors/upsert":
                return self._upsert(body)
            if url.path == "/query":
                return self._query(body)
            if url.path == "/vectors/delete":
                return self._delete(body)
            if url.path == "/describe_index_stats":
                counts = {n: {"vectorCount": len(v)} for n, v in self.namespaces.items()}
                return _answer(200, {"namespaces": counts, "dimension": self.dimension, "indexFullness": 0.0,
                                     "totalVectorCount": sum(len(v) for v in self.namespaces.values())})
            if url.path == "/vectors/list":
                return self._list({k: v[0] for k, v in parse_qs(url.query).items()})
        return _answer(404, {"error": {"code": "NOT_FOUND", "message": url.path}})

    def _upsert(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if self.upserts_allowed is not None:
            if self.upserts_allowed <= 0:
                return _answer(400, {"error": {"code": "INVALID_ARGUMENT", "message": "refused"}})
            self.upserts_allowed -= 1
        space = self.namespaces.setdefault(body.get("namespace", ""), {})
        for vector in body["vectors"]:
            if len(vector["values"]) != self.dimension:
                return _answer(400, {"error": {"code": "INVALID_ARGUMENT",
                                               "message": "Vector dimension does not match the index"}})
            space[vector["id"]] = (vector["values"], vector.get("metadata") or {})
        return _answer(200, {"upsertedCount": len(body["vectors"])})

    def _query(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        query = body["vector"]
        norm = math.sqrt(sum(x * x for x in query)) or 1.0
        scored = []
        for ident, (values, metadata) in self.namespaces.get(body.get("namespace", ""), {}).items():
            if body.get("filter") and not _matches(metadata, body["filter"]):
                continue
            other = math.sqrt(sum(x * x for x in values)) or 1.0
            score = sum(a * b for a, b in zip(query, values, strict=True)) / norm / other
            scored.append({"id": ident, "score": score, "values": [],
                           **({"metadata": metadata} if body.get("includeMetadata") else {})})
        scored.sort(key=lambda m: -m["score"])
        return _answer(200, {"matches": scored[:body["topK"]], "namespace": body.get("namespace", ""),
                             "usage": {"readUnits": 1}})

    def _delete(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        namespace = body.get("namespace", "")
        if body.get("deleteAll"):
            if namespace not in self.namespaces:
                return _answer(404, {"error": {"code": "NOT_FOUND", "message": "Namespace not found"}})
            del self.namespaces[namespace]
        else:
            space = self.namespaces.get(namespace, {})
            for ident in body.get("ids", []):
                space.pop(ident, None)
        return _answer(200, {})

    def _list(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        ids = sorted(i for i in self.namespaces.get(params.get("namespace", ""), {})
                     if i.startswith(params.get("prefix", "")))
        start = int(params.get("paginationToken", "0"))
        limit = int(params.get("limit", "3"))  # small pages: the SDK's pagination is exercised
        page = ids[start:start + limit]
        answer: dict[str, Any] = {"vectors": [{"id": i} for i in page],
                                  "namespace": params.get("namespace", ""), "usage": {"readUnits": 1}}
        if start + limit < len(ids):
            answer["pagination"] = {"next": str(start + limit)}
        return _answer(200, answer)


@contextmanager
def pinecone_server(api_key: str, dimension: int) -> Iterator[PineconePeer]:
    """A Pinecone index's data plane on loopback (a dense index of ``dimension``, cosine metric)."""
    peer = PineconePeer(api_key=api_key, dimension=dimension)
    with http_peer(peer.respond) as http:
        peer.url = http.url
        yield peer


# --- OpenAI-compatible embeddings ----------------------------------------------------------------------


def toy_embedding(text: str, dimension: int) -> list[float]:
    """A bag of hashed words: texts sharing words are near (enough meaning for retrieval tests)."""
    vector = [0.0] * dimension
    for word in text.lower().replace(".", " ").replace("?", " ").replace(",", " ").split():
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dimension] += 1.0
    return vector


@dataclass
class EmbeddingsPeer:
    api_key: str
    dimension: int
    status: int = 200  # set to answer every request with an error status
    ragged: bool = False  # answer vectors of differing lengths
    raw: bytes | None = None  # answer this body (status 200) instead
    gate: threading.Event | None = None  # when set: each answer waits for it (at most 60 s)
    http: HttpPeer | None = None

    @property
    def url(self) -> str:
        assert self.http is not None
        return self.http.url + "/v1"

    @property
    def requests(self) -> list[Recorded]:
        assert self.http is not None
        return self.http.requests

    def respond(self, request: Recorded) -> tuple[int, dict[str, str], bytes]:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            sent = request.headers.get("authorization", "")[7:]  # OpenAI's 401 quotes the key it got
            return _answer(401, {"error": {"message": f"Incorrect API key provided: {sent}",
                                           "type": "invalid_request_error", "code": "invalid_api_key"}})
        if self.status != 200:
            return _answer(self.status, {"error": {"message": "overloaded", "type": "server_error"}})
        if urlsplit(request.path).path != "/v1/embeddings":
            return _answer(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})
        if self.gate is not None:
            self.gate.wait(60)
        if self.raw is not None:
            return 200, dict(_JSON), self.raw
        body = json.loads(request.body)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return _answer(200, {"object": "list", "model": body["model"],
                             "data": [{"object": "embedding", "index": i,
                                       "embedding": toy_embedding(t, self.dimension + (i % 2 and
                                                                                        self.ragged))}
                                      for i, t in enumerate(texts)],
                             "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})


@contextmanager
def embeddings_server(api_key: str, dimension: int) -> Iterator[EmbeddingsPeer]:
    """An OpenAI-compatible embeddings API (``POST /v1/embeddings``) on loopback."""
    peer = EmbeddingsPeer(api_key=api_key, dimension=dimension)
    with http_peer(peer.respond) as http:
        peer.http = http
        yield peer
