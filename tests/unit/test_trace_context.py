"""automate.tracing without an SDK: reading and writing traceparent values (hostile ones included), and
the context a block hands on when no span is recorded."""

from __future__ import annotations

import pytest

from automate import tracing
from automate.errors import ConfigurationError

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_is_read_and_written_back_the_same() -> None:
    ctx = tracing.parse_traceparent(VALID)
    assert ctx is not None and ctx.is_remote
    assert (ctx.trace_id, ctx.span_id) == (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7)
    assert tracing.format_traceparent(ctx) == VALID
    assert tracing.parse_traceparent(VALID.encode()) == ctx


@pytest.mark.parametrize("value", [
    "", "00", VALID.upper(),  # upper-case hex is not allowed
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is invalid
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero span id
    VALID + "-extra",  # version 00 has exactly four fields
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # a digit short
    " " + VALID, VALID + "\n", "x" * 10_000, b"\xff\xfe" + VALID.encode(), None,
])
def test_anything_else_is_no_trace_context(value: str | bytes | None) -> None:
    assert tracing.parse_traceparent(value) is None


def test_a_later_version_is_read_as_version_00_with_its_extra_fields_ignored() -> None:
    later = "01" + VALID[2:] + "-what-a-later-version-adds"
    assert tracing.format_traceparent(tracing.parse_traceparent(later)) == VALID  # type: ignore[arg-type]


def test_only_the_sampled_flag_is_kept() -> None:
    ctx = tracing.parse_traceparent(VALID[:-2] + "ff")
    assert ctx is not None and tracing.format_traceparent(ctx) == VALID[:-2] + "01"


def test_the_header_is_found_among_others_and_a_bad_one_ignored() -> None:
    assert tracing.header_traceparent([("ce_id", b"x"), ("traceparent", VALID.encode())]) == VALID
    assert tracing.header_traceparent([("traceparent", b"garbage")]) is None
    assert tracing.header_traceparent([("traceparent", None)]) is None  # Debezium's NULL column
    assert tracing.header_traceparent(None) is None


def test_without_an_sdk_a_block_hands_on_the_context_it_was_given() -> None:
    assert not tracing.enabled()
    assert tracing.current_traceparent() is None
    with tracing.span("execute x", parent=VALID):
        assert tracing.current_traceparent() == VALID
        with tracing.span("step a"):  # no span recorded: the context stays the one given
            assert tracing.current_traceparent() == VALID
    assert tracing.current_traceparent() is None
    with tracing.span("execute y", parent="not a traceparent"):
        assert tracing.current_traceparent() is None


def test_an_unknown_exporter_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ConfigurationError, match="zipkin"):
        tracing.configure("automate-test")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.configure("automate-test") is False
    assert not tracing.enabled()
