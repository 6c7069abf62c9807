"""ExecutionRequest records from precomputed Avro fragments.

Avro encodes a record as its fields' encodings one after the other, so a request is
``frame | execution id | tenant | automation part | event part``: the automation part (id, slug, version)
is encoded once per automation version, the event part (event id, type, context, time) once per event,
and only the execution id per request. That is a concatenation instead of a fastavro call per request
(the processors' hottest path). At start the encoder compares its output with fastavro's for the
registered ExecutionRequest schema; should the schema ever differ, it falls back to fastavro.
"""

from __future__ import annotations

import logging
from typing import Any

from automate.contracts import avro_long, avro_string
from automate.records import Records

__all__ = ["RequestEncoder"]

log = logging.getLogger("automate.processors.encoding")


_SOME = b"\x02"  # union branch 1 (the non-null one) of ["null", "string"]
_NONE = b"\x00"


class RequestEncoder:
    """Encodes ExecutionRequests; equal, byte for byte, to ``records.encode("ExecutionRequest", ...)``."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self._automation_parts: dict[tuple[str, str, int], bytes] = {}
        sample = {"execution_id": "00000000-0000-5000-8000-000000000000", "tenant": "tenant-é",
                  "automation_id": "11111111-1111-4111-8111-111111111111", "workflow_slug": "slug",
                  "workflow_version": 300, "event_id": "22222222-2222-4222-8222-222222222222",
                  "event_type": "order.created", "context": '{"a":"ü"}', "requested_at": 1_700_000_000_123}
        expected = records.encode("ExecutionRequest", sample)
        self._frame = expected[:5]
        self.fast = self._fast(sample) == expected
        if not self.fast:
            log.warning("ExecutionRequest schema changed; encoding with fastavro",
                        extra={"action": "processors.encoder_fallback"})

    def automation_part(self, automation_id: str, slug: str, version: int) -> bytes:
        key = (automation_id, slug, version)
        part = self._automation_parts.get(key)
        if part is None:
            part = avro_string(automation_id) + avro_string(slug) + avro_long(version)
            if len(self._automation_parts) > 100_000:
                self._automation_parts.clear()
            self._automation_parts[key] = part
        return part

    @staticmethod
    def event_part(event_id: str | None, event_type: str | None, context: str, requested_at: int) -> bytes:
        return ((_SOME + avro_string(event_id) if event_id is not None else _NONE)
                + (_SOME + avro_string(event_type) if event_type is not None else _NONE)
                + avro_string(context) + avro_long(requested_at))

    def encode(self, execution_id: str, tenant: bytes, automation: bytes, event: bytes) -> bytes:
        """One request from its parts (``tenant`` is ``avro_string(tenant)``); only when ``fast``."""
        return b"".join((self._frame, avro_string(execution_id), tenant, automation, event))

    def _fast(self, r: dict[str, Any]) -> bytes:
        return b"".join((self._frame, avro_string(r["execution_id"]), avro_string(r["tenant"]),
                         self.automation_part(r["automation_id"], r["workflow_slug"], r["workflow_version"]),
                         self.event_part(r["event_id"], r["event_type"], r["context"], r["requested_at"])))
