"""The AsyncAPI 3.0 document of the project's Kafka topics, for the services that consume them. It is
written from the code: topic names and retry tiers from :mod:`automate.topics`, the Avro contracts read
from ``schemas/``, the CloudEvents headers from the relay (:func:`automate_core.outbox.relay.record_headers`,
read off a sample row) and the retry headers from :mod:`automate.step_tasks`. The YAML is versioned as
``docs/asyncapi.yaml`` (``python -m automate.asyncapi``; a test fails when the file and this module
differ); ``docs/consumers.md`` is the guide that goes with it.

Written by hand rather than with an AsyncAPI library: the document uses a handful of the specification's
objects (a server, channels with parameters, receive operations, messages with a Kafka binding), and the
payloads are the Avro schemas as they are (schema format ``application/vnd.apache.avro+json;version=1.9.0``),
not translated to JSON Schema.
"""

from __future__ import annotations

import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import yaml

from automate.config import Settings
from automate.contracts import Contract, ContractSet
from automate.events.workflows import EXECUTION_REQUESTED
from automate.processors.decoding import REQUIRED_HEADERS
from automate.runtime.workflows import SLUG_PATTERN
from automate.step_tasks import ATTEMPT_HEADER, DUE_AT_HEADER, HOPS_HEADER, TARGET_HEADER
from automate.topics import RETRY_TIERS, RetryTier, dlq_topic, events_topic, retry_topic, workflow_topic
from automate.tracing import TRACEPARENT
from automate_core.outbox.relay import record_headers
from automate_core.outbox.store import OutboxItem

__all__ = ["ASYNCAPI", "AVRO", "document", "path", "text", "write"]

ASYNCAPI: Final = "3.0.0"
AVRO: Final = "application/vnd.apache.avro+json;version=1.9.0"
KAFKA_BINDING: Final = "0.4.0"  # the Kafka bindings' version the AsyncAPI 3.0.0 schema knows
WIRE: Final = ("The value is in the Confluent wire format: the magic byte `0`, the writer schema's registry "
               "id (4 bytes, big-endian), then the record in Avro binary encoding. Fetch the writer schema "
               "by its id (`GET <registry>/schemas/ids/<id>`).")
# a sample row's fields, found in its headers
_ID, _TYPE, _TENANT, _TRACE = "\x00id", "\x00type", "\x00tenant", "\x00traceparent"


def _settings(prefix: str) -> Settings:
    """The default settings with topic prefix ``prefix``, environment and ``automate.toml`` left unread:
    the document is the same on every machine."""
    return Settings.model_construct(topic_prefix=prefix)


def _text(description: str, **more: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **more}


def _cloudevents(ce_type: str | None, note: str, *, present: bool) -> dict[str, Any]:
    """The CloudEvents headers of an outbox row as both publishers write them: the literals as constants,
    the row's id, type and tenant as text (``ce_type`` fixed when given); ``present``: always there."""
    sample = OutboxItem(id=_ID, tenant=_TENANT, topic="", key="", type=_TYPE, payload=b"",
                        created_at=datetime(1970, 1, 1), attempts=0, traceparent=_TRACE)
    fields = {
        _ID: _text("The event id, a UUID: a duplicate delivery has the same one.", format="uuid"),
        _TYPE: _text("The event type.", **({"const": ce_type} if ce_type else {})),
        _TENANT: _text("The tenant the event belongs to."),
        _TRACE: {**_traceparent(), "type": ["string", "null"],
                 "description": "The W3C trace context of the span that emitted the event; a null value "
                                "when it was emitted without a trace."},
    }
    properties: dict[str, Any] = {}
    for name, value in record_headers(sample):
        text = value.decode() if isinstance(value, bytes) else str(value)
        properties[name] = fields.get(text) or _text("Always this value.", const=text)
    schema: dict[str, Any] = {
        "type": "object",
        "description": "Kafka record headers, each value UTF-8 text (CloudEvents' Kafka binary mode, `ce_` "
                       f"prefix). {note}",
        "properties": properties,
    }
    if present:  # (all but traceparent: records published before migration 0008 have none)
        schema["required"] = [name for name in properties if name != TRACEPARENT]
    return schema


def _traceparent() -> dict[str, Any]:
    """The ``traceparent`` header (:mod:`automate.tracing`): W3C Trace Context, version 00 as written."""
    return _text("The W3C trace context (https://www.w3.org/TR/trace-context/) to continue: the span that "
                 "made the record. Absent when the work was not traced.",
                 pattern="^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def _retry_headers(settings: Settings) -> dict[str, Any]:
    """The headers of a step task (:func:`automate.step_tasks.send_step_task`; the retry worker's hops)."""
    target = "^" + workflow_topic(settings, "").replace(".", r"\.") + SLUG_PATTERN.removeprefix("^")
    return {
        "type": "object",
        "description": "Kafka record headers, each value UTF-8 text. The retry worker reads them without "
                       "decoding the record, and forwards them unchanged with the record.",
        "properties": {
            DUE_AT_HEADER: _text("When the task is due: epoch milliseconds, decimal digits.",
                                 pattern="^[0-9]{1,15}$"),
            ATTEMPT_HEADER: _text("The attempt to run (1-based), decimal digits.", pattern="^[0-9]+$"),
            TARGET_HEADER: _text("The workflow topic the task goes back to once due.", pattern=target),
            HOPS_HEADER: _text("How often the retry worker moved the task to another tier (a delay longer "
                               "than its tier's); absent before the first hop.", pattern="^[0-9]+$"),
            TRACEPARENT: _traceparent(),
        },
        "required": [DUE_AT_HEADER, ATTEMPT_HEADER, TARGET_HEADER],
    }


def _message(contract: Contract, name: str, title: str, summary: str, description: str, key: dict[str, Any],
             headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message whose payload is ``contract``'s Avro schema, framed as :data:`WIRE` says."""
    message: dict[str, Any] = {
        "name": name,
        "title": title,
        "summary": summary,
        "description": f"{description}\n\n{WIRE} Registry subject: `{contract.subject}` (the record's full "
                       "name: one topic carries several record types).",
    }
    if headers is not None:
        message["headers"] = headers
    message["payload"] = {"schemaFormat": AVRO, "schema": contract.schema}
    message["bindings"] = {"kafka": {
        "key": key, "schemaIdLocation": "payload", "schemaIdPayloadEncoding": "confluent",
        "schemaLookupStrategy": "RecordNameStrategy", "bindingVersion": KAFKA_BINDING}}
    return message


def _messages(settings: Settings, contracts: ContractSet) -> dict[str, dict[str, Any]]:
    """Every message of the document by component id: one per event contract, the generic envelope and
    the built-in records."""
    event_key = _text("The `key=` argument of `emit_event`, else its dedupe key, else the event id; UTF-8.")
    execution_key = _text("The execution id (a UUID), UTF-8: an execution's records share a partition.")
    dead_lettered = ("A record without " + ", ".join(f"`{h}`" for h in REQUIRED_HEADERS)
                     + " is dead-lettered by the processors (`event.headers`).")
    found: dict[str, dict[str, Any]] = {}
    for event_type in contracts.event_types():
        contract = contracts.event(event_type)
        assert contract is not None
        found[f"event.{event_type}"] = _message(
            contract, event_type, f"Event {event_type}", str(contract.schema.get("doc", event_type)),
            f"An event of type `{event_type}`, encoded with its contract `schemas/events/{event_type}.avsc`.",
            event_key, _cloudevents(event_type, dead_lettered, present=True))
    found["GenericEvent"] = _message(
        contracts.builtin("GenericEvent"), "GenericEvent", "Event without a contract",
        "An event whose type has no contract in schemas/events, its payload as JSON text.",
        "An event whose type has no contract in `schemas/events/`: its payload is the field `payload`, the "
        "JSON object as text (UTF-8, keys sorted). Its time is the record's timestamp (no `ce_time` header).",
        event_key, _cloudevents(None, dead_lettered, present=True))
    found["ExecutionRequest"] = _message(
        contracts.builtin("ExecutionRequest"), "ExecutionRequest", "Execution request",
        "Start one execution of a workflow.",
        "Start one execution of the workflow. The processors produce one per event and matching automation "
        "(execution id `uuid5(event id, automation id)`, so a redelivered event asks for the same execution) "
        "with one header, `traceparent`, when the event was traced; `run_workflow` publishes one through the "
        "outbox, with its row's CloudEvents headers.",
        execution_key, _cloudevents(EXECUTION_REQUESTED, "On the requests of `run_workflow`; the "
                                    "processors' requests have `traceparent` only, when traced.",
                                    present=False))
    found["StepTask"] = _message(
        contracts.builtin("StepTask"), "StepTask", "Step task",
        "Resume an execution at one step: a retry, a durable wait, a replay.",
        "Produced to the retry tier of its delay and put back on its workflow topic by the retry worker "
        "when due (never early), bytes, key and headers unchanged.", execution_key, _retry_headers(settings))
    found["DeadLetter"] = _message(
        contracts.builtin("DeadLetter"), "DeadLetter", "Dead letter", "Work that could not be done.",
        "`kind: step`: a step failed for good and failed its execution, or a request or task named an "
        "automation version or execution that does not exist. `kind: poison`: a record a stage could not "
        "read or deliver, its bytes in `original` and its topic in `source_topic`. No headers.",
        {"type": ["string", "null"], "description": "A step letter's execution id; the processors' poison "
         "letter carries the key of the record it could not read or deliver; the runtime's and the retry "
         "worker's poison letters have no key."})
    return found


def _refs(channel: str, ids: list[str]) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/{channel}/messages/{i}"} for i in ids]


def document(prefix: str = "automate") -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the topics of prefix ``prefix``."""
    settings = _settings(prefix)
    contracts = ContractSet()
    messages = _messages(settings, contracts)
    events = [i for i in messages if i.startswith("event.")] + ["GenericEvent"]
    tiers = ", ".join(f"`{t.name}` ({t.delay_s:g} s)" for t in RETRY_TIERS)
    partitions = (f"The project creates its topics with `AUTOMATE_TOPIC_PARTITIONS` partitions "
                  f"({settings.topic_partitions} by default).")

    def channel(address: str, title: str, description: str, ids: list[str],
                parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {"address": address, "title": title, "description": description}
        if parameters:
            found["parameters"] = parameters
        found["messages"] = {i: {"$ref": f"#/components/messages/{i}"} for i in ids}
        return found

    channels = {
        "events": channel(
            events_topic(settings), "Events",
            "Every emitted event, published from the outbox (Debezium or the relay: the same bytes, on the "
            "same partition) when its transaction commits; at least once, a duplicate with the same `ce_id`. "
            f"The record's timestamp is the outbox row's `created_at`. {partitions}", events),
        "workflow": channel(
            workflow_topic(settings, "{slug}"), "Workflow requests and step tasks",
            "The execution requests and step tasks of one workflow, consumed by the runtime. "
            f"{partitions}", ["ExecutionRequest", "StepTask"],
            {"slug": {"description": f"The workflow's slug (`{SLUG_PATTERN}`), one tenant's."}}),
        "retry": channel(
            retry_topic(settings, RetryTier("{tier}", 0.0)), "Retry tiers",
            "Step tasks waiting for their retry or wait, one topic per tier of a fixed delay; a task goes to "
            f"the smallest tier at least its delay. Tiers: {tiers}. {partitions}", ["StepTask"],
            {"tier": {"enum": [t.name for t in RETRY_TIERS], "description": "The tier's fixed delay."}}),
        "deadLetters": channel(
            dlq_topic(settings), "Dead letters",
            f"What every stage could not do or could not read. {partitions}", ["DeadLetter"]),
    }

    def receive(name: str, title: str, ours: str) -> dict[str, Any]:
        return {"action": "receive", "channel": {"$ref": f"#/channels/{name}"}, "title": title,
                "description": f"{ours} A service of yours reads with a consumer group of its own, commits "
                               "after its work, and tolerates duplicates (delivery is at least once).",
                "messages": _refs(name, list(channels[name]["messages"]))}

    return {
        "asyncapi": ASYNCAPI,
        "info": {
            "title": "Automate: Kafka topics",
            "version": _version(),
            "description": f"The topics of an Automate deployment (topic prefix `{prefix}`, "
                           "`AUTOMATE_TOPIC_PREFIX`) and their records, for the services that consume them. "
                           "Every value is Avro in the Confluent wire format; keys and headers are UTF-8 "
                           "text. Generated by `python -m automate.asyncapi`; the guide is "
                           "`docs/consumers.md`.",
        },
        "defaultContentType": "application/octet-stream",
        "servers": {"local": {
            "host": "{bootstrap}",
            "protocol": "kafka",
            "title": "The local stack",
            "description": "The broker of `automate up`; the schema registry is Apicurio's "
                           "Confluent-compatible API (`AUTOMATE_SCHEMA_REGISTRY_URL` elsewhere).",
            "variables": {"bootstrap": {"default": settings.bootstrap_servers,
                                        "description": "Bootstrap servers (`AUTOMATE_KAFKA_BOOTSTRAP`)."}},
            "bindings": {"kafka": {"schemaRegistryUrl": settings.registry_url,
                                   "schemaRegistryVendor": "confluent", "bindingVersion": KAFKA_BINDING}},
        }},
        "channels": channels,
        "operations": {
            "receiveEvents": receive("events", "Read the events",
                                     f"The processors read them as the group `{prefix}-processors`."),
            "receiveWorkflowRecords": receive("workflow", "Read a workflow's requests and tasks",
                                              "The runtime reads every workflow topic (a regular expression "
                                              f"subscription) as the group `{prefix}-runtime`."),
            "receiveRetryTiers": receive("retry", "Read the retry tiers",
                                         f"The retry worker reads them as the group `{prefix}-retry`."),
            "receiveDeadLetters": receive("deadLetters", "Read the dead letters",
                                          "`automate dlq list | show` read them from the start, with a "
                                          "new group each time."),
        },
        "components": {"messages": messages},
    }


def _version() -> str:
    try:
        return metadata.version("automate")
    except metadata.PackageNotFoundError:
        return "0.0.0"


class _Dumper(yaml.SafeDumper):
    """YAML without anchors: a schema written twice is written out twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def text(prefix: str = "automate") -> str:
    """:func:`document` as YAML, keys in the order written."""
    return yaml.dump(document(prefix), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def path() -> Path:
    """Where the document is versioned: ``docs/asyncapi.yaml`` of the checkout."""
    return Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


def write(target: Path | None = None) -> Path:
    """Write :func:`text` to ``target`` (default :func:`path`); returns the file."""
    out = target or path()
    out.write_text(text())
    return out


if __name__ == "__main__":
    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
