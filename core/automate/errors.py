"""The exception root of the producer library and the shared core.

Tree::

    AutomateError                 every error this project raises on purpose (``code``, ``retryable``)
    ├── ConfigurationError        settings that cannot work (bad URL, missing file)
    ├── MigrationError            a migration failed or the schema is newer than this code
    └── EventError                an event or workflow request was refused before anything was written
        ├── InvalidEventType        empty type, or characters outside [A-Za-z0-9._-]
        ├── UnknownEventType        no contract for the type while strict_event_types is on
        ├── PayloadNotSerializable  the payload is not a JSON document (names the offending path)
        ├── PayloadTooLarge         the encoded record is above max_payload_bytes
        ├── SchemaViolation         the payload does not match its contract (names the field)
        ├── SchemaNotRegistered     the contract's schema id is not cached: run `automate schemas register`
        └── UnknownWorkflow         run_workflow named a slug with no live workflow for the tenant
"""

from __future__ import annotations

__all__ = [
    "AutomateError",
    "ConfigurationError",
    "EventError",
    "InvalidEventType",
    "MigrationError",
    "PayloadNotSerializable",
    "PayloadTooLarge",
    "SchemaNotRegistered",
    "SchemaViolation",
    "UnknownEventType",
    "UnknownWorkflow",
]


class AutomateError(Exception):
    """Root of every error Automate raises on purpose.

    Attributes:
        code: A stable, machine-readable error code.
        retryable: Whether trying the same thing again may succeed.
    """

    code: str = "internal"
    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable


class ConfigurationError(AutomateError):
    """Settings that cannot work; the message names the setting and the fix."""

    code = "configuration"


class MigrationError(AutomateError):
    """A migration could not be applied; nothing of it was kept."""

    code = "migration"


class EventError(AutomateError):
    """An event or workflow request was refused; nothing was written."""

    code = "event"


class InvalidEventType(EventError):
    code = "event.invalid_type"


class UnknownEventType(EventError):
    code = "event.unknown_type"


class PayloadNotSerializable(EventError):
    code = "event.payload_not_serializable"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class PayloadTooLarge(EventError):
    code = "event.payload_too_large"

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class SchemaViolation(EventError):
    code = "event.schema_violation"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class SchemaNotRegistered(EventError):
    code = "event.schema_not_registered"
    retryable = True


class UnknownWorkflow(EventError):
    code = "event.unknown_workflow"
