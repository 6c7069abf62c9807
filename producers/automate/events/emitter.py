"""Turning ``emit_event`` arguments into one outbox row, and writing it in the caller's transaction.

The pure part (validate, encode, frame) is shared by the sync and async writers.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any

import psycopg

from automate import tracing
from automate.config import Settings
from automate.contracts import (
    Contract,
    ContractSet,
    avro_string,
    canonical_json,
    check_json,
    context_json,
    decode,
    encode,
    frame,
)
from automate.db.schemas import AsyncSchemaStore, SchemaStore
from automate.errors import (
    ErrorCodes,
    EventError,
    InvalidEventType,
    PayloadNotSerializable,
    PayloadTooLarge,
    SchemaNotRegistered,
    SchemaViolation,
    UnknownEventType,
)
from automate.ids import random_id
from automate.sizes import context_bound
from automate.topics import events_topic
from automate_core.outbox.writer import AsyncOutboxWriter, OutboxRow, OutboxWriter

__all__ = ["Emitter"]

_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
# UTF-8 byte limits of the text arguments: the dedupe key and the tenant share one btree index entry
# (at most ~2,700 bytes), and the key and tenant travel as Kafka key / headers.
MAX_DEDUPE_KEY_BYTES = 1024
MAX_KEY_BYTES = 1024
MAX_TENANT_BYTES = 255


def check_text_argument(name: str, value: object, max_bytes: int) -> None:
    """EventError (``event.invalid_argument``) unless ``value`` is a non-empty str of at most ``max_bytes``
    UTF-8 bytes without NUL or lone surrogates; raised before anything is sent to Postgres, so the
    caller's transaction stays usable."""
    if not isinstance(value, str) or not value:
        raise EventError(ErrorCodes.EVENT_INVALID_ARGUMENT,
                         f"{name} must be a non-empty string, not {type(value).__name__}")
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        raise EventError(ErrorCodes.EVENT_INVALID_ARGUMENT,
                         f"{name} has a lone surrogate (not valid UTF-8)") from None
    if size > max_bytes:
        raise EventError(ErrorCodes.EVENT_INVALID_ARGUMENT,
                         f"{name} is {size} bytes (UTF-8), above the limit of {max_bytes}")
    if "\x00" in value:
        raise EventError(ErrorCodes.EVENT_INVALID_ARGUMENT, f"{name} contains a NUL character")


class Emitter:
    """Builds and writes outbox rows for one deployment (its settings and contracts).

    Schema ids come from the ``schema_id`` table (filled by ``automate schemas register``), read once
    per connection's database and kept: registry ids never change for a given schema.
    """

    def __init__(self, settings: Settings, contracts: ContractSet | None = None) -> None:
        self.settings = settings
        self.contracts = contracts or ContractSet()
        self.topic = events_topic(settings)
        self._ids: dict[str, int] = {}
        self._bounds: dict[str, int | None] = {}  # contract fingerprint: its context_bound

    # -- pure part -----------------------------------------------------------------------------

    def contract_for(self, event_type: str) -> tuple[Contract, bool]:
        """(contract, typed): the event type's own contract, or the generic envelope."""
        if not isinstance(event_type, str) or not _TYPE.fullmatch(event_type):
            raise InvalidEventType(
                f"invalid event type {event_type!r}: use 1-200 characters of letters, digits, '.', '_', '-'"
            )
        contract = self.contracts.event(event_type)
        if contract is not None:
            return contract, True
        if self.settings.strict_event_types:
            raise UnknownEventType(
                f"event type {event_type!r} has no contract (schemas/events/{event_type}.avsc) "
                "and strict_event_types is on"
            )
        return self.contracts.builtin("GenericEvent"), False

    def build(
        self,
        event_type: str,
        payload: Any,
        schema_id: int,
        contract: Contract,
        typed: bool,
        *,
        dedupe_key: str | None,
        tenant: str | None,
        key: str | None,
        topic: str | None = None,
        event_id: str | None = None,
    ) -> OutboxRow:
        if dedupe_key is not None:
            check_text_argument("dedupe_key", dedupe_key, MAX_DEDUPE_KEY_BYTES)
        if key is not None:
            check_text_argument("key", key, MAX_KEY_BYTES)
        if tenant is not None:
            check_text_argument("tenant", tenant, MAX_TENANT_BYTES)
        if not isinstance(payload, dict):
            raise PayloadNotSerializable(
                f"payload must be a JSON object (dict), not {type(payload).__name__}", path="$"
            )
        if typed:
            unknown = payload.keys() - contract.field_names
            if unknown:  # Avro would drop them silently
                name = sorted(map(str, unknown))[0]
                raise SchemaViolation(
                    f"payload does not match {contract.full_name}: field {name!r} is not in the contract",
                    field=name,
                )
            # Encoding checks every field; only when it fails is the slower validator asked which
            # field is wrong (for the error message).
            try:
                data = encode(contract, schema_id, payload)
            except (TypeError, ValueError, AttributeError, KeyError, OverflowError):
                check_json(payload, text=True, strict=False)  # lone surrogates, integers too long: by path
                contract.validate(payload)
                raise SchemaViolation(f"payload does not match {contract.full_name}", field="$") from None
        else:
            check_json(payload)
            # GenericEvent is one string field: its Avro body is that string's encoding (the unit tests
            # hold this equal to fastavro's).
            try:
                data = frame(schema_id) + avro_string(canonical_json(payload))
            except ValueError:  # UnicodeEncodeError, or an int past Python's str digit limit
                check_json(payload, text=True)  # names the path
                raise PayloadNotSerializable("payload cannot be encoded as UTF-8 JSON", path="$") from None
        limit = self.settings.max_payload_bytes
        if len(data) > limit:
            what = "encoded event" if topic is None else "encoded request (its inputs as JSON inside)"
            raise PayloadTooLarge(
                f"{what} is {len(data)} bytes, above the limit of {limit} (AUTOMATE_MAX_PAYLOAD_BYTES)",
                size=len(data),
                limit=limit,
            )
        if typed and topic is None:  # (run_workflow's request carries its context inside ``data``)
            self._check_context(contract, data, limit)
        ident = event_id or random_id()
        tracing.annotate({"automate.event_id": ident})
        return OutboxRow(
            id=ident,
            tenant=tenant or self.settings.tenant,
            topic=topic or self.topic,
            key=key or dedupe_key or ident,
            type=event_type,
            payload=data,
            dedupe_key=dedupe_key,
            created_at=datetime.now(UTC).replace(tzinfo=None),
            traceparent=tracing.current_traceparent(),
        )

    def _check_context(self, contract: Contract, data: bytes, limit: int) -> None:
        """PayloadTooLarge when the context the processors will make of this typed event (its JSON,
        longer than its Avro) is above ``limit``; decoded to measure only when the contract's bound
        (:func:`automate.sizes.context_bound`) does not already show that it fits."""
        try:
            bound = self._bounds[contract.fingerprint]
        except KeyError:
            bound = self._bounds[contract.fingerprint] = context_bound(contract.parsed)
        if bound is not None and 6 * len(data) + bound <= limit:
            return
        size = len(context_json(decode(contract, data)).encode())
        if size > limit:
            raise PayloadTooLarge(
                f"the event's context (its JSON) is {size} bytes, above the limit of {limit} "
                "(AUTOMATE_MAX_PAYLOAD_BYTES)",
                size=size,
                limit=limit,
            )

    def _known_id(self, contract: Contract) -> int | None:
        return self._ids.get(contract.fingerprint)

    def _remember(self, rows: dict[str, int], contract: Contract) -> int:
        self._ids.update(rows)
        found = self._ids.get(contract.fingerprint)
        if found is None:
            raise SchemaNotRegistered(
                f"schema {contract.subject} is not registered (or changed since): "
                "run `automate schemas register` (also run by `automate migrate`)"
            )
        return found

    # -- sync writer (partner: AsyncEmitter below) ---------------------------------------------

    def schema_id(self, cur: Any, contract: Contract) -> int:
        known = self._known_id(contract)
        if known is not None:
            return known
        return self._remember(SchemaStore(cur).ids_by_fingerprint(), contract)

    def write(self, cur: Any, row: OutboxRow) -> str:
        """Insert ``row`` through a DB-API cursor (psycopg or Django) in the caller's transaction;
        returns the event id (the first event's when the dedupe key was taken)."""
        return OutboxWriter(cur).insert(row)

    def emit(
        self,
        conn: psycopg.Connection[Any],
        event_type: str,
        payload: Any,
        *,
        dedupe_key: str | None,
        tenant: str | None,
        key: str | None,
    ) -> str:
        contract, typed = self.contract_for(event_type)
        writer = _writer(conn)
        sid = self.schema_id(writer.cursor, contract)
        row = self.build(event_type, payload, sid, contract, typed,
                         dedupe_key=dedupe_key, tenant=tenant, key=key)
        if conn.autocommit:
            with conn.transaction():
                return writer.insert(row)
        return writer.insert(row)

    # -- async writer (partner: the sync writer above) -----------------------------------------

    async def aschema_id(self, cur: psycopg.AsyncCursor[Any], contract: Contract) -> int:
        known = self._known_id(contract)
        if known is not None:
            return known
        return self._remember(await AsyncSchemaStore(cur).ids_by_fingerprint(), contract)

    async def awrite(self, cur: psycopg.AsyncCursor[Any], row: OutboxRow) -> str:
        return await AsyncOutboxWriter(cur).insert(row)

    async def aemit(
        self,
        conn: psycopg.AsyncConnection[Any],
        event_type: str,
        payload: Any,
        *,
        dedupe_key: str | None,
        tenant: str | None,
        key: str | None,
    ) -> str:
        contract, typed = self.contract_for(event_type)
        async with conn.cursor() as cur:
            sid = await self.aschema_id(cur, contract)
            row = self.build(event_type, payload, sid, contract, typed,
                             dedupe_key=dedupe_key, tenant=tenant, key=key)
            if conn.autocommit:
                async with conn.transaction():
                    return await self.awrite(cur, row)
            return await self.awrite(cur, row)


_WRITER = "_automate_emit_writer"


def _writer(conn: psycopg.Connection[Any]) -> OutboxWriter:
    """The outbox writer (and its cursor) emit uses on ``conn``, kept on the connection itself (it lives
    and dies with it): emit_event is called many times per transaction, and a new cursor each time was
    a quarter of emit's own work. (Not a dict keyed by connection: the cursor refers to its connection,
    so the dict would keep every connection alive.)"""
    writer: OutboxWriter | None = getattr(conn, _WRITER, None)
    if writer is None or writer.cursor.closed:
        writer = OutboxWriter(conn.cursor())
        with contextlib.suppress(AttributeError):  # no __dict__ on the connection: a writer per call
            setattr(conn, _WRITER, writer)
    return writer
