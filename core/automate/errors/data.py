"""Errors of what comes in: events and workflow requests refused by ``emit_event`` / ``run_workflow``,
model lookups, and Kafka records that cannot be read."""

from __future__ import annotations

from automate.errors.base import AutomateError
from automate.errors.codes import ErrorCodes

__all__ = ["DoesNotExist", "EventError", "InvalidEventType", "ModelError", "MultipleObjectsReturned",
           "NoLiveVersion", "PayloadNotSerializable", "PayloadTooLarge", "RecordError", "SchemaNotRegistered",
           "SchemaViolation", "UnknownEventType", "UnknownWorkflow"]


# --- emit_event and run_workflow --------------------------------------------------------------------------


class EventError(AutomateError):
    """An event or workflow request was refused; nothing was written."""

    code = ErrorCodes.EVENT


class InvalidEventType(EventError):
    code = ErrorCodes.EVENT_INVALID_TYPE


class UnknownEventType(EventError):
    code = ErrorCodes.EVENT_UNKNOWN_TYPE


class PayloadNotSerializable(EventError):
    code = ErrorCodes.EVENT_PAYLOAD_NOT_SERIALIZABLE

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class PayloadTooLarge(EventError):
    code = ErrorCodes.EVENT_PAYLOAD_TOO_LARGE

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class SchemaViolation(EventError):
    code = ErrorCodes.EVENT_SCHEMA_VIOLATION

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class SchemaNotRegistered(EventError):
    code = ErrorCodes.EVENT_SCHEMA_NOT_REGISTERED
    retryable = True


class UnknownWorkflow(EventError):
    code = ErrorCodes.EVENT_UNKNOWN_WORKFLOW


# --- models --------------------------------------------------------------------------------------------


class ModelError(AutomateError):
    """A model lookup or write was refused."""

    code = ErrorCodes.MODEL


class DoesNotExist(ModelError):
    """No row matched ``get()``; catch ``<Model>.DoesNotExist`` for one model, this for any."""

    code = ErrorCodes.MODEL_DOES_NOT_EXIST


class MultipleObjectsReturned(ModelError):
    """More than one row matched ``get()``."""

    code = ErrorCodes.MODEL_MULTIPLE_OBJECTS_RETURNED


class NoLiveVersion(ModelError):
    """The automation has no live workflow version to pin a new execution to."""

    code = ErrorCodes.MODEL_NO_LIVE_VERSION


# --- records -------------------------------------------------------------------------------------------


class RecordError(AutomateError):
    """A Kafka record that cannot be read: it goes to the dead-letter topic with ``code``
    (``RecordError(ErrorCodes.EVENT_HEADERS, "...")``) and the stream goes on."""

    code = ErrorCodes.RECORD_UNREADABLE
