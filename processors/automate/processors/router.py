"""From one event to the execution requests it calls for: the processors' work, free of any transport.

For a record of ``automate.events``: read the CloudEvents headers (id, type, tenant), look up the
candidate automations of that tenant and type in the trigger index, and only when there are candidates
decode the Avro body and evaluate each candidate's rules. Every matching automation gets one
ExecutionRequest for its topic ``automate.workflow.<slug>``, keyed by the execution id
``uuid5(event id, automation id)``, so a redelivered event asks for the same execution again and the runtime
creates it once.

Rules see the event's payload at the top level (``{"var": "amount"}``) and the event itself under
``$event``: ``$event.id``, ``$event.type``, ``$event.tenant``, ``$event.time`` (ms) and
``$event.headers.<name>``.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from automate import tracing
from automate.config import Settings
from automate.contracts import avro_string, context_json, split_wire
from automate.errors import AutomateError, ErrorCodes, RecordError
from automate.ids import uuid5_of
from automate.jsonb import unstorable_text
from automate.processors.decoding import EventSchemas, read_headers
from automate.processors.encoding import RequestEncoder
from automate.processors.index import Candidate, Target, TriggerIndex
from automate.records import Records
from automate.rules import RuleError, RuleLimitError
from automate.topics import workflow_topic

__all__ = ["Request", "Routed", "Router", "matching_targets"]

log = logging.getLogger("automate.processors.router")


@dataclass(frozen=True, slots=True)
class Request:
    """One execution request to produce."""

    topic: str
    key: str  # the execution id
    value: bytes
    slug: str


@dataclass(slots=True)
class Routed:
    """What one event produced: its requests, how many candidates it had, the rule time and rule errors
    (``rule_limits``: the workflows whose rule went past a limit of the rule engine, also counted in
    ``rule_errors``)."""

    requests: list[Request] = field(default_factory=list)
    candidates: int = 0
    rule_seconds: float = 0.0
    rule_errors: int = 0
    rule_limits: list[str] = field(default_factory=list)
    event_type: str = ""
    traceparent: str | None = None  # what the requests carry: the process span's context, or the event's


class Router:
    """Routes events with the current trigger index (``router.index`` is swapped on configuration changes;
    one event is always routed with one index)."""

    def __init__(self, settings: Settings, schemas: EventSchemas, records: Records,
                 index: TriggerIndex | None = None) -> None:
        self.settings = settings
        self.schemas = schemas
        self.records = records
        self.index = index or TriggerIndex(())
        self.encoder = RequestEncoder(records)
        self._topics: dict[str, str] = {}

    def topic_of(self, slug: str) -> str:
        topic = self._topics.get(slug)
        if topic is None:
            topic = self._topics[slug] = workflow_topic(self.settings, slug)
        return topic

    def route(self, value: bytes | None, headers: list[tuple[str, bytes | None]] | None,
              timestamp_ms: int) -> Routed:
        """The requests for one event; :class:`~automate.errors.RecordError` for a record that cannot be
        read. A traced event (a ``traceparent`` header) gets a process span when spans are recorded; its
        requests carry that span's context, else the event's own."""
        if not tracing.enabled():
            routed = self._route(value, headers, timestamp_ms)
            if routed.requests:
                routed.traceparent = tracing.header_traceparent(headers)
            return routed
        parent = tracing.header_traceparent(headers)
        if parent is None:
            return self._route(value, headers, timestamp_ms)
        span = tracing.start_span("process", parent, kind=tracing.SpanKind.CONSUMER,
                                  attributes={"messaging.system": "kafka"})
        try:
            routed = self._route(value, headers, timestamp_ms)
        except BaseException as exc:  # (a record's fault, or the registry's: the record is tried again)
            tracing.end_span(span, error=exc.code if isinstance(exc, AutomateError) else type(exc).__name__)
            raise
        span.update_name(f"process {routed.event_type}")
        span.set_attributes({
            "automate.event_type": routed.event_type, "automate.candidates": routed.candidates,
            "automate.requests": len(routed.requests), "automate.rule_errors": routed.rule_errors})
        routed.traceparent = tracing.traceparent_of(span, parent)
        tracing.end_span(span)
        return routed

    def _route(self, value: bytes | None, headers: list[tuple[str, bytes | None]] | None,
               timestamp_ms: int) -> Routed:
        event_id, event_type, tenant = read_headers(headers)
        try:
            namespace = uuid.UUID(event_id).bytes
        except ValueError:
            raise RecordError(ErrorCodes.EVENT_HEADERS,
                              f"header ce_id is not a UUID: {event_id[:80]!r}") from None
        if not value:
            raise RecordError(ErrorCodes.EVENT_UNDECODABLE, "the record has no value")
        try:
            schema_id, body = split_wire(value)
        except RecordError as exc:
            raise RecordError(ErrorCodes.EVENT_UNDECODABLE, exc.message) from None
        writer = self.schemas.get(schema_id)
        index = self.index
        candidates = index.candidates(tenant, event_type)
        routed = Routed(candidates=len(candidates), event_type=event_type)
        if not candidates:
            return routed
        try:
            payload, text = writer.payload(body)
        except Exception as exc:  # fastavro raises many types for a corrupt body
            raise RecordError(ErrorCodes.EVENT_UNDECODABLE,
                         f"cannot decode the body with schema {schema_id} ({writer.name}): "
                         f"{type(exc).__name__}: {exc}"[:500]) from None
        matched = matching_targets(candidates, payload, event_id, event_type, tenant, timestamp_ms, headers,
                                   routed)
        if not matched:
            return routed
        context = text if text is not None else context_json(payload)
        problem = unstorable_text(context)
        if problem:
            raise RecordError(ErrorCodes.EVENT_UNDECODABLE,
                              f"the payload {problem}, which Postgres cannot store")
        now_ms = int(time.time() * 1000)
        encoder = self.encoder
        if encoder.fast:
            event_part = encoder.event_part(event_id, event_type, context, now_ms)
            tenant_part = avro_string(tenant)
        for target in matched:
            ident = uuid5_of(namespace, target.name)
            if encoder.fast:
                automation = encoder.automation_part(target.automation_id, target.slug, target.version)
                value = encoder.encode(ident, tenant_part, automation, event_part)
            else:
                value = self.records.encode("ExecutionRequest", {
                    "execution_id": ident, "tenant": tenant, "automation_id": target.automation_id,
                    "workflow_slug": target.slug, "workflow_version": target.version,
                    "event_id": event_id, "event_type": event_type, "context": context,
                    "requested_at": now_ms,
                })
            routed.requests.append(Request(self.topic_of(target.slug), ident, value, target.slug))
        return routed


def matching_targets(candidates: tuple[Candidate, ...], payload: dict[str, Any], event_id: str,
                     event_type: str, tenant: str, timestamp_ms: int,
                     headers: list[tuple[str, bytes | None]] | None, routed: Routed) -> list[Target]:
    """The candidates' targets whose rules hold for the event: a candidate matches when one of its rules
    holds, or it has none; a rule that raises does not match (counted in ``routed.rule_errors``, and a
    rule stopped by a limit of the engine in ``routed.rule_limits``). The time taken goes into
    ``routed.rule_seconds``."""
    started = time.perf_counter()
    data: dict[str, Any] | None = None
    matched: list[Target] = []
    for candidate in candidates:
        if not candidate.rules:
            matched.append(candidate.target)
            continue
        if data is None:
            data = dict(payload)
            data["$event"] = {"id": event_id, "type": event_type, "tenant": tenant, "time": timestamp_ms,
                              "headers": _header_map(headers)}
        for rule in candidate.rules:
            try:
                if rule.evaluate(data):
                    matched.append(candidate.target)
                    break
            except RuleError as exc:
                routed.rule_errors += 1
                limited = isinstance(exc, RuleLimitError)
                if limited:
                    routed.rule_limits.append(candidate.target.slug)
                log.warning("rule went past a limit on an event; the trigger does not match it" if limited
                            else "rule failed on an event; the trigger does not match it",
                            extra={"action": "processors.rule_limit" if limited else "processors.rule_error",
                                   "slug": candidate.target.slug, "tenant": tenant, "event_id": event_id,
                                   "code": exc.code, "error": str(exc)[:300]})
    routed.rule_seconds = time.perf_counter() - started
    return matched


def _header_map(headers: list[tuple[str, bytes | None]] | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, value in headers or ():
        out[name] = value.decode(errors="replace") if value is not None else None
    return out

