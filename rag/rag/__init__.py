"""Retrieval: index documents into an endpoint, query it by meaning with metadata filters.

``index_documents(endpoint, documents)`` and ``query(endpoint, query_text, top_k=5, filters=None)`` are
the seed's API; an endpoint (Postgres, ``rag_endpoint``) names its chunking, its embedder (``wordllama``
offline by default, or any OpenAI-compatible embeddings server) and its vector store (embedded LanceDB
under ``AUTOMATE_HOME`` by default, or Pinecone). See docs/rag.md.
"""

from __future__ import annotations

from rag.api import EndpointStats, delete_documents, describe_endpoint, index_documents, query
from rag.endpoints import Endpoint, create_endpoint, delete_endpoint, get_endpoint, list_endpoints

__all__ = [
    "Endpoint",
    "EndpointStats",
    "create_endpoint",
    "delete_documents",
    "delete_endpoint",
    "describe_endpoint",
    "get_endpoint",
    "index_documents",
    "list_endpoints",
    "query",
]
