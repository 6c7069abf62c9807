"""Trace context through the pipeline: a W3C ``traceparent`` from ``emit_event`` to every step.

The context travels as data: the outbox row's ``traceparent`` column, then the ``traceparent`` header of
every Kafka record made for the event (the event itself, with either publisher; its execution requests;
its steps' retry tasks). Each stage that runs with OpenTelemetry configured adds a span as a child of the
context it received and hands its own span's context on; a stage without it hands on what it received, so
the trace is never cut. Nothing else goes into a span: names, ids, topics and error codes, never a payload
or an error message.

The API (``opentelemetry-api``) is all the producer library needs: ``emit_event`` joins the caller's
current span. The workers set up the SDK from the standard environment variables
(:func:`configure`, ``OTEL_TRACES_EXPORTER=otlp``, see docs/observability.md).
"""

from __future__ import annotations

import importlib
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from automate.errors import ConfigurationError

__all__ = ["TRACEPARENT", "SpanKind", "annotate", "configure", "current_traceparent", "enabled", "end_span",
           "format_traceparent", "header_traceparent", "parse_traceparent", "span", "start_span",
           "traceparent_of"]

TRACEPARENT = "traceparent"
_MAX_HEADER = 512  # a traceparent is 55 characters today; later versions may add fields, not kilobytes
# version-trace id-parent id-flags; a later version may append "-..." (read as version 00, per the spec)
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")

_tracer = trace.get_tracer("automate")


_checked = [False, 0.0]  # [a provider is installed, when to look again while none is]


def enabled() -> bool:
    """Whether spans are recorded in this process: an SDK tracer provider is installed (by
    :func:`configure`, or by the application around ``emit_event``). Once installed it stays (the API
    sets it once); while there is none, the API is asked again at most once a second (asking reads the
    environment: a microsecond on every event was 2 % of the processors' time)."""
    if _checked[0]:
        return True
    now = time.monotonic()
    if now < _checked[1]:
        return False
    provider = trace.get_tracer_provider()
    _checked[0] = not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
    _checked[1] = now + 1.0
    return bool(_checked[0])


def parse_traceparent(value: str | bytes | None) -> SpanContext | None:
    """The remote span context of a ``traceparent`` value; None for anything that is not a valid one
    (too long, not ASCII, version ff, an all-zero id): a bad header starts no trace and breaks nothing."""
    if value is None or len(value) > _MAX_HEADER:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    ctx = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True,
                      trace_flags=TraceFlags(int(flags, 16) & TraceFlags.SAMPLED))
    return ctx if ctx.is_valid else None


def format_traceparent(ctx: SpanContext) -> str | None:
    """The ``traceparent`` value of ``ctx`` (version 00); None for an invalid context."""
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags) & TraceFlags.SAMPLED:02x}"


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span (the caller's, or one of ours), or None when there is none."""
    return format_traceparent(trace.get_current_span().get_span_context())


_VERSION_00 = re.compile(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]")
_ZEROS = b"0" * 32


def header_traceparent(headers: Sequence[tuple[str, Any]] | None) -> str | None:
    """The valid ``traceparent`` among Kafka ``headers`` (as text), or None. A version-00 value as this
    project writes it is taken as it is (the processors' path for every traced event: a sixth of the
    parse); any other is parsed and written again."""
    for name, value in headers or ():
        if name == TRACEPARENT:
            if (isinstance(value, bytes) and _VERSION_00.fullmatch(value)
                    and value[3:35] != _ZEROS and value[36:52] != _ZEROS[:16]):
                return value.decode("ascii")
            ctx = parse_traceparent(value)
            return format_traceparent(ctx) if ctx is not None else None
    return None


def _parent(traceparent: str | None) -> otel_context.Context | None:
    ctx = parse_traceparent(traceparent)
    if ctx is None:
        return None
    return trace.set_span_in_context(NonRecordingSpan(ctx), otel_context.Context())


@contextmanager
def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, parent: str | bool | None = True,
         start_trace: bool = False, attributes: dict[str, Any] | None = None) -> Iterator[None]:
    """A span around the block, current inside it (so :func:`current_traceparent` and nested spans see it).

    ``parent``: True for the current span; else a ``traceparent`` to continue. Without a parent (no current
    span, or no valid ``traceparent``) there is no span, unless ``start_trace`` (a new trace begins here:
    ``emit_event`` without a caller's span). Without a recording tracer no span is made, but the given
    ``traceparent`` still becomes the current context inside the block, so what the block hands on
    continues the trace.
    """
    if parent is True:
        context = None
        traced = trace.get_current_span().get_span_context().is_valid
    else:
        context = _parent(parent if isinstance(parent, str) else None)
        traced = context is not None
    if not enabled() or not (traced or start_trace):
        if context is None:
            yield
            return
        token = otel_context.attach(context)
        try:
            yield
        finally:
            otel_context.detach(token)
        return
    if parent is not True and context is None:
        context = otel_context.Context()  # (a new trace, not the current one)
    with _tracer.start_as_current_span(name, context=context, kind=kind,
                                       attributes=attributes, record_exception=False,
                                       set_status_on_exception=False) as current:
        try:
            yield
        except BaseException as exc:
            current.set_status(Status(StatusCode.ERROR, _code_of(exc)))
            raise


def annotate(attributes: dict[str, Any], *, error: str | None = None) -> None:
    """Add ``attributes`` (and an error code as its status) to the current span, when it is recorded."""
    current = trace.get_current_span()
    if not current.is_recording():
        return
    current.set_attributes(attributes)
    if error is not None:
        current.set_status(Status(StatusCode.ERROR, error))


def start_span(name: str, traceparent: str | None, *, kind: SpanKind = SpanKind.INTERNAL,
               attributes: dict[str, Any] | None = None, start_time: int | None = None) -> Any:
    """A span (not made current) under ``traceparent``, for code that is not one block per span (a batch
    of records); None when spans are not recorded. End it with :func:`end_span`."""
    if not enabled():
        return None
    return _tracer.start_span(name, context=_parent(traceparent) or otel_context.Context(), kind=kind,
                              attributes=attributes, start_time=start_time, record_exception=False)


def end_span(started: Any, *, error: str | None = None, end_time: int | None = None) -> None:
    """End a span of :func:`start_span` (None: nothing), with ``error`` (a code) as its status."""
    if started is None:
        return
    if error is not None:
        started.set_status(Status(StatusCode.ERROR, error))
    started.end(end_time=end_time)


def traceparent_of(started: Any, fallback: str | None) -> str | None:
    """What a record made under ``started`` (a span of :func:`start_span`, or None) should carry."""
    if started is None:
        return fallback
    return format_traceparent(started.get_span_context())


def _code_of(exc: BaseException) -> str:
    """An error's code for a span status: the project's code, or the exception's type (never its text)."""
    code = getattr(exc, "code", None)
    return str(code) if isinstance(code, str) else type(exc).__name__


def configure(service: str) -> bool:
    """Set up the OpenTelemetry SDK in a worker from the standard environment variables; True when spans
    are exported. ``OTEL_TRACES_EXPORTER`` (default ``none``): ``otlp`` (OTLP over HTTP/protobuf,
    ``OTEL_EXPORTER_OTLP_ENDPOINT``...) and/or ``console``; ``OTEL_SERVICE_NAME`` defaults to ``service``;
    the sampler (``OTEL_TRACES_SAMPLER``) and the batching (``OTEL_BSP_*``) are the SDK's own settings.
    Does nothing when the application has installed a tracer provider already."""
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",")]
    names = [n for n in names if n and n != "none"]
    if not names or enabled():
        return enabled()
    unknown = sorted(set(names) - {"otlp", "console"})
    if unknown:
        raise ConfigurationError(f"OTEL_TRACES_EXPORTER: unknown exporter(s) {', '.join(unknown)}; "
                                 "automate's workers support otlp, console and none")
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise ConfigurationError("OTEL_TRACES_EXPORTER is set but opentelemetry-sdk is not installed: "
                                 "pip install 'automate[kafka]'") from None
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in names:
        if name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
    trace.set_tracer_provider(provider)
    _checked[1] = 0.0  # (seen at once)
    return True


def _otlp_exporter() -> Any:
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter()
    if protocol == "grpc":
        try:
            module = importlib.import_module("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
        except ImportError:
            raise ConfigurationError("OTLP over gRPC needs opentelemetry-exporter-otlp-proto-grpc installed; "
                                     "or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf") from None
        return module.OTLPSpanExporter()
    raise ConfigurationError(f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}: use http/protobuf or grpc")
