"""Writer schemas the processors will not use: the cache of schema ids the registry does not know is
bounded, and a repeated unknown id costs no registry call within its TTL (issue 16, finding 9); recursive
schemas are refused. A local HTTP server speaks the registry's wire protocol for ``GET /schemas/ids/<id>``
and counts the requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from automate.errors import ErrorCodes, RecordError
from automate.processors.decoding import EventSchemas, recursive

KNOWN = {"type": "record", "name": "Late", "namespace": "t", "fields": [{"name": "a", "type": "string"}]}


class Registry:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.known: dict[int, dict[str, object] | str] = {}  # a schema, or its JSON text


@pytest.fixture
def registry() -> Iterator[tuple[Registry, str]]:
    state = Registry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            schema_id = int(self.path.rsplit("/", 1)[-1])
            if schema_id in state.known:
                schema = state.known[schema_id]
                status, body = 200, {"schema": schema if isinstance(schema, str) else json.dumps(schema)}
            else:
                status, body = 404, {"error_code": 40403, "message": "Schema not found"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def unknown(schemas: EventSchemas, schema_id: int) -> None:
    with pytest.raises(RecordError) as info:
        schemas.get(schema_id)
    assert info.value.code == ErrorCodes.EVENT_SCHEMA_UNKNOWN


def test_a_repeated_unknown_id_asks_the_registry_once(registry: tuple[Registry, str]) -> None:
    state, url = registry
    schemas = EventSchemas(url)
    for _ in range(50):
        unknown(schemas, 4242)
    assert state.requests == ["/schemas/ids/4242"]


def test_many_distinct_unknown_ids_keep_the_cache_at_its_bound(registry: tuple[Registry, str]) -> None:
    state, url = registry
    schemas = EventSchemas(url, unknown_size=20)
    for schema_id in range(1000, 1100):
        unknown(schemas, schema_id)
        assert schemas.unknown_count <= 20
    assert schemas.unknown_count == 20
    assert len(state.requests) == 100
    unknown(schemas, 1099)  # among the most recent: still remembered
    assert len(state.requests) == 100
    unknown(schemas, 1000)  # dropped as least recently seen: asked again
    assert len(state.requests) == 101


def test_a_schema_registered_later_is_found_once_the_entry_expires(registry: tuple[Registry, str]) -> None:
    state, url = registry
    schemas = EventSchemas(url, unknown_ttl_s=0.0)  # entries expire at once
    unknown(schemas, 7)
    state.known[7] = KNOWN
    assert schemas.get(7).name == "t.Late"
    assert schemas.unknown_count == 0
    assert state.requests == ["/schemas/ids/7", "/schemas/ids/7"]


LINKED = {"type": "record", "name": "Node", "namespace": "t", "fields": [
    {"name": "next", "type": ["null", "Node"]}]}
MUTUAL = {"type": "record", "name": "A", "namespace": "t", "fields": [
    {"name": "b", "type": {"type": "record", "name": "B", "fields": [
        {"name": "items", "type": {"type": "array", "items": ["null", "t.A"]}}]}}]}
SHARED = {"type": "record", "name": "Pair", "namespace": "t", "fields": [
    {"name": "left", "type": {"type": "record", "name": "Leaf", "fields": [{"name": "v", "type": "long"}]}},
    {"name": "right", "type": "Leaf"}]}  # a named type used twice: not recursive


@pytest.mark.parametrize(("schema", "expected"), [(LINKED, True), (MUTUAL, True), (SHARED, False),
                                                  (KNOWN, False)])
def test_recursive_schemas_are_told_from_shared_types(schema: dict[str, object], expected: bool) -> None:
    assert recursive(schema) is expected


def test_a_recursive_writer_schema_is_refused_as_unusable(registry: tuple[Registry, str]) -> None:
    """Records of a self-referencing schema can nest without end: deep enough, decoding one crashes the
    decoder (a segfault, not an exception). The processors never decode with one."""
    state, url = registry
    state.known[9] = LINKED
    deep = 12_000  # deeper than Python's recursion goes while reading it
    state.known[10] = ('{"type": "record", "name": "D", "fields": [{"name": "x", "type": ' * deep + '"string"'
                       + "}]}" * deep)
    schemas = EventSchemas(url)
    unknown(schemas, 9)
    unknown(schemas, 10)


def test_nan_and_infinity_in_a_generic_payload_are_undecodable() -> None:
    from automate.contracts import ContractSet, avro_string

    generic = ContractSet().builtin("GenericEvent")
    schemas = EventSchemas("http://127.0.0.1:9", [(3, generic.schema)])
    writer = schemas.get(3)
    assert writer.payload(avro_string('{"a": 1.5}'))[0] == {"a": 1.5}
    for text in ('{"a": NaN}', '{"a": Infinity}', '{"a": [-Infinity]}'):
        with pytest.raises(RecordError) as raised:
            writer.payload(avro_string(text))
        assert raised.value.code == ErrorCodes.EVENT_UNDECODABLE
