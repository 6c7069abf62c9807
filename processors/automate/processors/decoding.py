"""Reading events off ``automate.events``: CloudEvents headers, then the Avro body by its writer schema.

Writer schemas are found by the id in the Confluent frame: first among those ``automate migrate`` /
``automate schemas register`` cached in Postgres (all of them are loaded at start), then in the schema
registry (a producer deployed with a newer contract registers ids this process has not seen). Ids the
registry does not know either are remembered for a while (at most ``UNKNOWN_CACHE_SIZE`` of them, least
recently seen dropped first, each for ``UNKNOWN_TTL_S``), so a stream of such records costs one lookup per
id per minute and bounded memory, and a schema registered later is found once its entry expires.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import fastavro

from automate.config import Settings
from automate.errors import ErrorCodes, RecordError, RegistryError
from automate.lru import LruCache

__all__ = ["EventSchemas", "WriterSchema", "read_headers", "recursive"]

log = logging.getLogger("automate.processors.decoding")

GENERIC = "dev.automate.GenericEvent"
UNKNOWN_TTL_S = 60.0
UNKNOWN_CACHE_SIZE = 1000
REQUIRED_HEADERS = ("ce_id", "ce_type", "ce_tenant")


@dataclass(frozen=True, slots=True)
class WriterSchema:
    schema_id: int
    name: str
    parsed: Any

    @property
    def generic(self) -> bool:
        return self.name == GENERIC

    def payload(self, body: memoryview | bytes) -> tuple[dict[str, Any], str | None]:
        """(payload, its JSON when the record already carries it) of an Avro body."""
        if self.name in _records_not_events():
            raise RecordError(ErrorCodes.EVENT_UNDECODABLE, f"{self.name} is one of the pipeline's own "
                              "records, not an event")
        record: Any = fastavro.schemaless_reader(io.BytesIO(body), self.parsed, None)
        if not isinstance(record, dict):
            raise RecordError(ErrorCodes.EVENT_UNDECODABLE, f"{self.name} is not a record schema")
        if self.generic:
            text = record["payload"]
            value = json.loads(text, parse_constant=_no_constant)
            if not isinstance(value, dict):
                raise RecordError(ErrorCodes.EVENT_UNDECODABLE,
                                  "the generic envelope's payload is not a JSON object")
            return value, text
        return record, None


def _no_constant(name: str) -> Any:
    # NaN, Infinity: Python reads them, Postgres refuses them
    raise RecordError(ErrorCodes.EVENT_UNDECODABLE, f"the payload holds {name}, which is not JSON")


def recursive(schema: Any) -> bool:
    """Whether a named record of ``schema`` (a parsed Avro schema) refers to itself, directly or through
    the records it holds: its records can nest without end, and decoding one deep enough crashes the
    decoder itself, not with an exception."""
    def walk(node: Any, namespace: str, enclosing: frozenset[str]) -> bool:
        if isinstance(node, str):
            return node in enclosing or f"{namespace}.{node}" in enclosing
        if isinstance(node, list):
            return any(walk(branch, namespace, enclosing) for branch in node)
        if not isinstance(node, dict):
            return False
        kind = node.get("type")
        if kind in ("record", "error"):
            name = str(node.get("name", ""))
            space = name.rpartition(".")[0] or str(node.get("namespace") or namespace)
            full = name if "." in name else f"{space}.{name}"
            inner = enclosing | {full, name}
            return any(walk(field.get("type"), space, inner) for field in node.get("fields") or ()
                       if isinstance(field, dict))
        if kind == "array":
            return walk(node.get("items"), namespace, enclosing)
        if kind == "map":
            return walk(node.get("values"), namespace, enclosing)
        return isinstance(kind, (dict, list)) and walk(kind, namespace, enclosing)

    return walk(schema, "", frozenset())


@functools.cache
def _records_not_events() -> frozenset[str]:
    """Full names of the built-in records that are not events (a DeadLetter, a StepTask...)."""
    from automate.contracts import ContractSet

    contracts = ContractSet()
    return frozenset(contracts.builtin(name).full_name for name in contracts.builtins()) - {GENERIC}


def read_headers(headers: list[tuple[str, bytes | None]] | None) -> tuple[str, str, str]:
    """(event id, type, tenant) from the CloudEvents headers; RecordError when one is missing or empty."""
    found: dict[str, str] = {}
    for name, value in headers or ():
        if name in REQUIRED_HEADERS and value:
            try:
                found[name] = value.decode()
            except UnicodeDecodeError:
                raise RecordError(ErrorCodes.EVENT_HEADERS, f"header {name} is not UTF-8") from None
    missing = [name for name in REQUIRED_HEADERS if name not in found]
    if missing:
        raise RecordError(ErrorCodes.EVENT_HEADERS, f"missing header(s) {', '.join(missing)}")
    return found["ce_id"], found["ce_type"], found["ce_tenant"]


class EventSchemas:
    """Writer schemas by id, and the ids nobody knows (one thread uses it: the processor's)."""

    def __init__(self, registry_url: str, cached: Iterable[tuple[int, Any]] = (), *,
                 unknown_size: int = UNKNOWN_CACHE_SIZE, unknown_ttl_s: float = UNKNOWN_TTL_S) -> None:
        self.registry_url = registry_url
        self._by_id: dict[int, WriterSchema] = {}
        # schema id -> when the registry said it does not know it
        self._unknown: LruCache[int, float] = LruCache(unknown_size)
        self.unknown_size = unknown_size
        self.unknown_ttl_s = unknown_ttl_s
        for schema_id, schema in cached:
            self._add(schema_id, schema)

    @classmethod
    def load(cls, settings: Settings) -> EventSchemas:
        """The schemas cached in Postgres, and the registry of ``settings`` for the others."""
        from automate.db import connect
        from automate.db.schemas import SchemaStore

        with connect(settings, application_name="automate-processors") as conn:
            return cls(settings.registry_url, SchemaStore(conn).writer_schemas())

    def _add(self, schema_id: int, schema: Any) -> WriterSchema:
        parsed = fastavro.parse_schema(schema, named_schemas={})
        name = parsed["name"] if isinstance(parsed, dict) else str(parsed)
        found = WriterSchema(schema_id, name, parsed)
        self._by_id[schema_id] = found
        return found

    def get(self, schema_id: int) -> WriterSchema:
        """The writer schema of ``schema_id``; RecordError (``event.schema_unknown``) when nobody knows it."""
        found = self._by_id.get(schema_id)
        if found is not None:
            return found
        failed_at = self._unknown.get(schema_id)
        if failed_at is not None:
            if time.monotonic() - failed_at < self.unknown_ttl_s:
                raise RecordError(ErrorCodes.EVENT_SCHEMA_UNKNOWN,
                                  f"schema id {schema_id} is not in the registry")
            self._unknown.pop(schema_id)
        try:
            return self._fetch(schema_id)
        except RecordError:
            self._unknown.put(schema_id, time.monotonic())
            raise

    @property
    def unknown_count(self) -> int:
        """How many unknown schema ids are remembered (never more than ``unknown_size``)."""
        return len(self._unknown)

    def _fetch(self, schema_id: int) -> WriterSchema:
        import httpx

        url = f"{self.registry_url}/schemas/ids/{schema_id}"
        try:
            response = httpx.get(url, timeout=10.0)
        except httpx.HTTPError as exc:
            # Not the record's fault: raise so the batch is retried, not dead-lettered.
            raise RegistryError(f"schema registry unreachable at {url}: {exc}", retryable=True) from exc
        if response.status_code == 404:
            raise RecordError(ErrorCodes.EVENT_SCHEMA_UNKNOWN,
                              f"schema id {schema_id} is not in the registry")
        if response.status_code != 200:
            raise RegistryError(f"schema registry answered {response.status_code} for {url}", retryable=True)
        try:
            schema = json.loads(response.json()["schema"])
            if recursive(schema):
                raise RecordError(ErrorCodes.EVENT_SCHEMA_UNKNOWN,
                                  f"schema id {schema_id} is not a usable Avro schema: a named type refers "
                                  "to itself, so its records nest without end")
            return self._add(schema_id, schema)
        except (ValueError, KeyError, TypeError, RecursionError, fastavro.schema.SchemaParseException) as exc:
            raise RecordError(ErrorCodes.EVENT_SCHEMA_UNKNOWN,
                              f"schema id {schema_id} is not a usable Avro schema: {exc}"[:500]) from None
