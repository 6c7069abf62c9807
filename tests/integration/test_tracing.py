"""One event's trace, stage by stage, as an OpenTelemetry collector receives it.

A service of its own (a process with the OpenTelemetry SDK, as a user's would be) emits an event inside its
own span; the workers run as processes with ``OTEL_TRACES_EXPORTER=otlp`` pointed at a local collector that
speaks OTLP over HTTP (protobuf), as a real one does. The event's workflow calls an HTTP peer that fails once
(the step is retried through the 1 s tier) and then transforms the answer. The collector must receive one
trace: the caller's span, emit, publish (relay) or nothing (Debezium publishes without a span of ours),
process, execute, the first attempt of the step, the execution resumed by the retry task under it, the
second attempt and the next step; every span with its parent, no payload value in any of them. An event
emitted without a trace gets no span anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from automate.config import Settings
from automate.events import emit_event
from automate.supervise import WorkerSet, settings_env
from tests.integration.peers import HttpPeer, Recorded, http_peer
from tests.integration.publisher_support import debezium_installation
from tests.integration.runtime_support import apply_workflow
from tests.support import assert_eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SECRETISH = "4111-1111-1111-1111"  # a payload value: it must not reach any span

EMITTER = f"""
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider(resource=Resource.create({{"service.name": "checkout-service"}}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)

from automate.events import emit_event

with trace.get_tracer("checkout").start_as_current_span("checkout"):
    print(emit_event("traced.order", {{"n": 1, "card": "{SECRETISH}"}}), flush=True)
provider.shutdown()
"""


@dataclass(frozen=True)
class Span:
    name: str
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    error: str | None  # the status message of an ERROR status

    def __str__(self) -> str:
        shown = {k: v for k, v in self.attributes.items() if k.startswith("automate.")}
        return f"{self.name}  [{self.service}]  {shown}" + (f"  ERROR {self.error}" if self.error else "")


def _value(any_value: Any) -> Any:
    return getattr(any_value, any_value.WhichOneof("value")) if any_value.WhichOneof("value") else None


def spans_received(peer: HttpPeer) -> list[Span]:
    """Every span the collector was sent (OTLP/HTTP, protobuf bodies)."""
    found = []
    for request in list(peer.requests):
        if request.path != "/v1/traces":
            continue
        export = ExportTraceServiceRequest.FromString(request.body)
        for resource_spans in export.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    found.append(Span(s.name, str(resource.get("service.name")), s.trace_id.hex(),
                                      s.span_id.hex(), s.parent_span_id.hex(), s.kind,
                                      {a.key: _value(a.value) for a in s.attributes},
                                      s.status.message if s.status.code == 2 else None))
    return found


def tree(spans: list[Span], root: Span) -> str:
    """The trace under ``root`` as an indented listing (children by name)."""
    lines: list[str] = []

    def walk(span: Span, depth: int) -> None:
        lines.append("  " * depth + str(span))
        for child in sorted((s for s in spans if s.parent_id == span.span_id), key=lambda s: s.name):
            walk(child, depth + 1)

    walk(root, 0)
    return "\n".join(lines)


@pytest.fixture
def collector() -> Iterator[HttpPeer]:
    """A local OTLP/HTTP trace collector: answers every export with an empty ExportTraceServiceResponse."""
    answer = ExportTraceServiceResponse().SerializeToString()

    def respond(_request: Recorded) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/x-protobuf"}, answer

    with http_peer(respond) as peer:
        yield peer


@pytest.mark.parametrize("publisher", ["relay", "debezium"])
def test_one_event_has_a_span_per_stage_with_the_right_parents(
        publisher: str, stack: Settings, template_db: str, db_settings: Settings, collector: HttpPeer,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ExitStack() as stack_of:
        if publisher == "relay":
            base = db_settings
        else:
            from automate.stack.cdc import ensure_outbox_connector

            base = stack_of.enter_context(debezium_installation(stack, template_db))
            ensure_outbox_connector(base)
        s = Settings(**{**base.model_dump(), "http_allowlist": ("127.0.0.1/32",)})
        calls: list[Recorded] = []

        def once_unavailable(request: Recorded) -> tuple[int, dict[str, str], bytes]:
            calls.append(request)
            if sum(1 for c in calls if c.body == request.body) == 1:  # each event's first call
                return 503, {}, b""
            return 200, {"Content-Type": "application/json"}, b'{"ok": true}'

        peer = stack_of.enter_context(http_peer(once_unavailable))
        apply_workflow(s, {"slug": "traced", "name": "traced", "trigger": {"event": "traced.order"},
                           "steps": [{"id": "call", "action": "http.request",
                                      "input": {"url": peer.url, "method": "POST",
                                                "json": {"n": "{{ event.payload.n }}",
                                                         "card": "{{ event.payload.card }}"}},
                                      "retry": {"max_attempts": 3, "backoff": "fixed", "initial": "1s",
                                                "max": "1s", "jitter": 0}},
                                     {"id": "note", "action": "core.transform", "needs": ["call"],
                                      "input": {"ok": "{{ steps.call.output.status }}"}}]})
        for name, value in {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
                            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                            "OTEL_BSP_SCHEDULE_DELAY": "200"}.items():
            monkeypatch.setenv(name, value)
        emit_event("traced.order", {"n": 0, "card": SECRETISH}, settings=s)  # (no SDK here)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMATE_")} | settings_env(s)
        emitted = subprocess.run([sys.executable, "-c", EMITTER], env=env, capture_output=True, text=True,
                                 timeout=60)
        assert emitted.returncode == 0, emitted.stderr
        event_id = emitted.stdout.strip()
        with WorkerSet(s, log_dir=tmp_path):
            def complete() -> list[Span]:
                spans = spans_received(collector)
                steps = [x for x in spans if x.name in ("step call", "step note")]
                assert len(steps) == 3, [str(x) for x in spans]  # the traced event: call twice, note
                assert len(calls) == 4  # and the untraced one ran too
                return spans

            assert_eventually(complete, timeout=120, interval=0.5)
        spans = spans_received(collector)  # (the workers flushed what they had on their way out)

    root = next(x for x in spans if x.name == "checkout")
    mine = [x for x in spans if x.trace_id == root.trace_id]
    print(f"\nthe trace of event {event_id} ({publisher}):\n" + tree(mine, root))

    def only(name: str) -> Span:
        found = [x for x in mine if x.name == name]
        assert len(found) == 1, (name, [str(x) for x in mine])
        return found[0]

    emit = only("emit traced.order")
    process = only("process traced.order")
    execute = only("execute traced")
    resume = only("resume traced")
    first, second = sorted((x for x in mine if x.name == "step call"),
                           key=lambda x: x.attributes["automate.attempt"])
    note = only("step note")
    assert (emit.parent_id, emit.service, emit.attributes["automate.event_id"]) == (
        root.span_id, "checkout-service", event_id)
    publishes = [x for x in mine if x.name.startswith("publish ")]
    if publisher == "relay":
        assert [(x.parent_id, x.service) for x in publishes] == [(emit.span_id, "automate-relay")]
    else:
        assert publishes == []  # Debezium publishes the emitter's context unchanged
    assert (process.parent_id, process.service, process.attributes["automate.requests"]) == (
        emit.span_id, "automate-processors", 1)
    assert (execute.parent_id, execute.service) == (process.span_id, "automate-runtime")
    assert (first.parent_id, first.attributes["automate.status"], first.error) == (
        execute.span_id, "RETRYING", "http.503")
    assert resume.parent_id == first.span_id  # the retry task carried the deferring step's context
    assert (second.parent_id, second.attributes["automate.status"], second.error) == (
        resume.span_id, "SUCCESS", None)
    assert (note.parent_id, note.attributes["automate.status"]) == (resume.span_id, "SUCCESS")
    assert execute.attributes["automate.outcome"] == "WAITING"
    assert resume.attributes["automate.outcome"] == "SUCCESS"
    expected = 8 if publisher == "relay" else 7  # (Debezium: no publish span)
    assert len(mine) == 1 + expected, tree(mine, root)
    # The untraced event ran (the peer's calls) without a span anywhere: every span is of the one trace.
    assert all(x.trace_id == root.trace_id for x in spans), [str(x) for x in spans if x not in mine]
    # No payload value anywhere in a span: not in names, attributes or statuses.
    assert not [x for x in spans if SECRETISH in repr(x)]
    # Both calls of the traced event reached the peer (the trace is about real work).
    assert sum(1 for c in calls if SECRETISH.encode() in c.body) == 4
