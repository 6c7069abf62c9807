"""The error an unexpected failure records on its execution (automate.runtime.failures.unexpected_error):
a typed error keeps its code, anything else is execution.internal; the message names the type and is
storable."""

from __future__ import annotations

from automate.errors import AutomateError, ErrorCodes, TransportError
from automate.runtime.failures import unexpected_error


def test_an_untyped_error_is_execution_internal_and_names_its_type() -> None:
    error = unexpected_error(KeyError("step_id"))
    assert error == {"code": "execution.internal", "message": "KeyError: 'step_id'"}


def test_a_typed_error_keeps_its_code_but_the_roots_internal_is_made_specific() -> None:
    assert unexpected_error(TransportError("broker gone", code=ErrorCodes.KAFKA_DELIVERY))["code"] == \
        "kafka.delivery"
    assert unexpected_error(AutomateError(ErrorCodes.INTERNAL, "bug"))["code"] == "execution.internal"


def test_the_message_is_bounded_and_storable() -> None:
    error = unexpected_error(ValueError("a\x00b" + "x" * 5000))
    assert "\x00" not in error["message"] and len(error["message"]) <= 2000
