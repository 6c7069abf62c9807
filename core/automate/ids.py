"""Ids that deduplicate because they are derived, not random."""

from __future__ import annotations

import hashlib
import os
import uuid

__all__ = ["execution_id", "random_id", "uuid5_of"]


def execution_id(event_id: str, automation_id: str) -> str:
    """The execution an event starts for an automation: ``uuid5(event id, automation id)``.

    A redelivered event yields the same id, so the runtime creates its execution once.

    Raises:
        ValueError: ``event_id`` is not a UUID.
    """
    return uuid5_of(uuid.UUID(event_id).bytes, automation_id.encode())


def random_id() -> str:
    """``str(uuid.uuid4())`` without the UUID object (emit_event's event ids): os.urandom, version 4."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return _dashed(raw.hex())


def uuid5_of(namespace: bytes, name: bytes) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))`` without the UUID objects (a hot path of the
    processors: one per execution request)."""
    digest = bytearray(hashlib.sha1(namespace + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return _dashed(digest.hex())


def _dashed(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
