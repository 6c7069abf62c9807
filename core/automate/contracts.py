"""Avro contracts: the schemas in ``schemas/``, their registry subjects, and the Confluent wire format.

A record on any topic is ``0x00 | schema id (4 bytes, big-endian) | Avro binary``. Event types with a
contract (``schemas/events/<type>.avsc``) are encoded with it; other types with the generic envelope
``dev.automate.GenericEvent`` (the payload as canonical JSON). Subjects follow the record-name
strategy (the subject is the record's full name), because one topic carries many record types and
one record type (an execution request) travels on many topics.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import importlib.util
import io
import json
import math
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import fastavro
from fastavro.validation import ValidationError, validate

from automate.config import project_root
from automate.errors import (
    ConfigurationError,
    ErrorCodes,
    PayloadNotSerializable,
    RecordError,
    SchemaViolation,
)

__all__ = [
    "Contract",
    "ContractSet",
    "avro_long",
    "avro_string",
    "canonical_json",
    "check_json",
    "context_json",
    "decode",
    "encode",
    "frame",
    "schemas_dir",
    "split_wire",
]

MAGIC = b"\x00"


def schemas_dir() -> Path:
    """The ``schemas/`` folder: in the checkout, or the wheel's bundled copy."""
    root = project_root()
    if root is not None:
        return root / "schemas"
    spec = importlib.util.find_spec("automate_data")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("schemas/ not found: install automate from its wheel or run from a checkout")
    return Path(next(iter(spec.submodule_search_locations))) / "schemas"


@dataclass(frozen=True)
class Contract:
    """One Avro schema, parsed once."""

    schema: dict[str, Any]

    @cached_property
    def parsed(self) -> Any:
        return fastavro.parse_schema(self.schema)

    @cached_property
    def canonical(self) -> str:
        """Parsing Canonical Form-like text: stable across whitespace and key order."""
        return json.dumps(self.schema, sort_keys=True, separators=(",", ":"))

    @cached_property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.canonical.encode()).hexdigest()

    @cached_property
    def field_names(self) -> frozenset[str]:
        return frozenset(str(f["name"]) for f in self.schema.get("fields", []))

    @property
    def full_name(self) -> str:
        ns = self.schema.get("namespace")
        name = str(self.schema["name"])
        return f"{ns}.{name}" if ns and "." not in name else name

    @property
    def subject(self) -> str:
        return self.full_name

    def validate(self, record: Any) -> None:
        """Raise SchemaViolation naming the first field that does not fit."""
        try:
            validate(record, self.parsed, raise_errors=True)
        except ValidationError as exc:
            first = exc.errors[0] if getattr(exc, "errors", None) else None
            field = getattr(first, "field", None) or self.full_name
            path = self._field_path(str(field))
            got = getattr(first, "datum", None)
            expected = getattr(first, "schema", None)
            raise SchemaViolation(
                f"payload does not match {self.full_name}: field {path!r} is {got!r}, expected {expected}",
                field=path,
            ) from None


    def _field_path(self, fastavro_path: str) -> str:
        """fastavro names a field by its innermost record's full name (``ns.Inner.n``): keep the field
        alone for the top record (``amount``), the short record name for nested ones (``Inner.n``)."""
        top = self.full_name + "."
        if fastavro_path.startswith(top):
            return fastavro_path[len(top):]
        record, _, field = fastavro_path.rpartition(".")
        return f"{record.rpartition('.')[2]}.{field}" if record else field


def encode(contract: Contract, schema_id: int, record: Any) -> bytes:
    """Confluent wire format of ``record`` (validate first: this only encodes)."""
    buf = io.BytesIO()
    buf.write(frame(schema_id))
    fastavro.schemaless_writer(buf, contract.parsed, record)
    return buf.getvalue()


def frame(schema_id: int) -> bytes:
    """The Confluent wire-format prefix of a record: the magic byte and the schema id."""
    return MAGIC + schema_id.to_bytes(4, "big")


_SMALL = [bytes(((n << 1),)) for n in range(64)]  # 0..63 encode to one byte


def avro_long(n: int) -> bytes:
    """Avro's zig-zag varint encoding of an int or long."""
    if 0 <= n < 64:
        return _SMALL[n]
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def avro_string(s: str) -> bytes:
    """Avro's encoding of a string: its UTF-8 length, then the bytes."""
    data = s.encode()
    return avro_long(len(data)) + data


def split_wire(data: bytes) -> tuple[int, bytes]:
    """(schema id, Avro body) of a Confluent-framed record; RecordError when it is not framed."""
    if len(data) < 5 or data[:1] != MAGIC:
        raise RecordError(ErrorCodes.RECORD_UNREADABLE,
                          "not a Confluent wire-format record (magic byte 0 and a 4-byte schema id)")
    return int.from_bytes(data[1:5], "big"), data[5:]


def decode(contract: Contract, data: bytes) -> Any:
    _, body = split_wire(data)
    return fastavro.schemaless_reader(io.BytesIO(body), contract.parsed)


def check_json(value: Any, path: str = "$", *, text: bool = False, strict: bool = True) -> None:
    """Raise PayloadNotSerializable naming the first part of ``value`` that is not plain JSON.

    ``text`` also checks what only encoding finds (called once encoding failed, to name the path):
    strings and keys with lone surrogates (not UTF-8) and integers past Python's str digit limit.
    ``strict=False`` lets other types pass (an Avro contract's bytes, say).
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > 256:
            raise PayloadNotSerializable(f"payload nests deeper than 256 levels at {where}", path=where)
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            if text:
                _check_text(item, where)
            continue
        if isinstance(item, int):
            if text and item.bit_length() > 14_000:  # 4,300 decimal digits is ~14,284 bits
                try:
                    str(item)
                except ValueError:
                    raise PayloadNotSerializable(
                        f"payload has an integer of more than 4,300 digits at {where}", path=where
                    ) from None
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise PayloadNotSerializable(f"payload has a non-finite number at {where}", path=where)
            continue
        if isinstance(item, dict):
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise PayloadNotSerializable(
                        f"payload has a non-string key {key!r} at {where}", path=where
                    )
                if text:
                    _check_text(key, f"{where}.{key!a}")
                stack.append((sub, f"{where}.{key}", depth + 1))
            continue
        if isinstance(item, (list, tuple)):
            stack.extend((sub, f"{where}[{i}]", depth + 1) for i, sub in enumerate(item))
            continue
        if strict:
            raise PayloadNotSerializable(
                f"payload is not JSON-serializable: {type(item).__name__} at {where}", path=where
            )


def _check_text(s: str, where: str) -> None:
    if not s.isascii():
        try:
            s.encode()
        except UnicodeEncodeError:
            raise PayloadNotSerializable(
                f"payload has a lone surrogate (not UTF-8) at {where}", path=where
            ) from None


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def context_json(record: Any) -> str:
    """The execution context the processors make of a decoded typed event: its JSON, with what Avro
    decodes to beyond JSON as text (dates ISO 8601, decimals, bytes in base64, UUIDs). emit_event measures
    it against the size limit (:mod:`automate.sizes`).

    Raises:
        RecordError: The record holds another type, which JSON cannot carry, a NaN or an infinity, which
            Postgres cannot store, or nests deeper than Python's recursion goes (``event.undecodable``).
    """
    try:
        return json.dumps(record, default=_jsonable, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (ValueError, RecursionError) as exc:
        raise RecordError(ErrorCodes.EVENT_UNDECODABLE,
                          f"the payload cannot be an execution's context: {type(exc).__name__}: {exc}"[:300]
                          ) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise RecordError(ErrorCodes.EVENT_UNDECODABLE, f"the payload holds a {type(value).__name__}, which JSON "
                      "cannot carry to the runtime")


class ContractSet:
    """The contracts in a ``schemas/`` folder: event types by name, plus the built-in records."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or schemas_dir()
        self._events: dict[str, Contract | None] = {}
        self._builtin: dict[str, Contract] = {}

    def event(self, event_type: str) -> Contract | None:
        """The contract of ``event_type``, or None when it has none."""
        if event_type not in self._events:
            path = self.root / "events" / f"{event_type}.avsc"
            self._events[event_type] = Contract(json.loads(path.read_text())) if path.is_file() else None
        return self._events[event_type]

    def builtin(self, name: str) -> Contract:
        """A built-in record schema of ``schemas/automate/`` by file stem, e.g. ``GenericEvent``."""
        if name not in self._builtin:
            self._builtin[name] = Contract(json.loads((self.root / "automate" / f"{name}.avsc").read_text()))
        return self._builtin[name]

    def event_types(self) -> list[str]:
        return sorted(p.name.removesuffix(".avsc") for p in (self.root / "events").glob("*.avsc"))

    def builtins(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "automate").glob("*.avsc"))
