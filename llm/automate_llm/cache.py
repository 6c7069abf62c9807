"""The opt-in response cache: an answer kept in Postgres per tenant, found again by the sha256 of the
canonical request (provider, model, where it goes and with whose key, messages, parameters, schema;
never the key itself: the sha256 of the key stands for it, so an answer got with one key is not served
to a call with another, a refused one), for
``settings.llm_cache_ttl_s`` seconds.

A cached answer costs nothing and is counted as ``cached`` in the metrics; it is not added to a
budget's usage (nothing was spent).
"""

from __future__ import annotations

import hashlib
import json

from automate.config import Settings
from automate.db.context import pool
from automate.db.llm import LlmStore
from automate_llm.providers.base import Reply, Usage
from automate_llm.request import ChatRequest

__all__ = ["cache_key", "lookup", "store"]


def cache_key(request: ChatRequest, *, destination: str, key: str | None = None) -> str:
    """The hex sha256 of the request in canonical JSON (sorted keys, no spaces), with ``destination``
    (the base URL, or the region and endpoint: the same question to another server is another entry)
    and the sha256 of ``key`` (the credential used)."""
    identity = None if key is None else hashlib.sha256(key.encode()).hexdigest()
    canonical = {**request.canonical(), "destination": destination, "key": identity}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def lookup(settings: Settings, tenant: str, key: str) -> Reply | None:
    """The cached reply of ``key``, if one has not expired."""
    with pool(settings).connection() as conn:
        found = LlmStore(conn).get_cached(tenant, key)
    if found is None:
        return None
    return Reply(text=str(found["text"]), model=str(found["model"]),
                 usage=Usage(input_tokens=int(found.get("input_tokens", 0)),
                             output_tokens=int(found.get("output_tokens", 0))))


def store(settings: Settings, tenant: str, key: str, reply: Reply) -> None:
    """Keep ``reply`` for the settings' TTL (replacing an older answer of the same request)."""
    usage = reply.usage or Usage()
    response = {"text": reply.text, "model": reply.model, "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens}
    with pool(settings).connection() as conn:
        LlmStore(conn).put_cached(tenant, key, response, settings.llm_cache_ttl_s)
