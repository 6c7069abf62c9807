"""``kafka``: producing a record to a topic, its value Avro in the Confluent wire format with the schema
the registry holds for its subject (or plain JSON).

Connection (required): ``{"topics": ["orders.shipped", "partner.*"], "bootstrap": "kafka:9092",
"registry_url": "http://registry:8081/..."}``: the topics a step may write (names, or prefixes ending in
``*``), and the cluster (default: the deployment's own Kafka and registry). Automate's topics
(``<topic prefix>.*``) and internal ones (``_*``) are never written, on any cluster, whatever ``topics``
says: a workflow cannot forge execution requests, step tasks or dead letters. Action ``kafka.produce``:
``{"topic": ..., "value": {...},
"key"?: str, "subject"?: str (default ``<topic>-value``), "format"?: "avro" | "json", "headers"?: {...}}``;
returns ``{"topic", "partition", "offset", "schema_id"}``. Each record carries the step's idempotency key
in the header ``automate-idempotency-key``, so a consumer can drop the copy a retried step produces.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from automate.config import Settings, get_settings
from automate.contracts import frame
from automate.errors import ErrorCodes
from automate_connectors.base import ActionSpec, Connector
from automate_connectors.errors import connector_error, from_http_status, normalize

__all__ = ["KafkaConnector", "allows"]

_SCHEMA_TTL_S = 60.0
_DELIVERY_TIMEOUT_S = 25.0
_schemas: dict[tuple[str, str], tuple[float, int, Any]] = {}
_schemas_lock = threading.Lock()
_producers: dict[str, Any] = {}  # one producer per cluster for the process (thread-safe, kept open)
_producers_lock = threading.Lock()


def allows(patterns: list[str], topic: str) -> bool:
    """Whether ``topic`` is one of ``patterns`` (a name, or a prefix ending in ``*``)."""
    return any(topic.startswith(p[:-1]) if p.endswith("*") else topic == p for p in patterns)


class KafkaConnector(Connector):
    key = "kafka"
    display_name = "Apache Kafka"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "topics": {"type": "array", "minItems": 1, "uniqueItems": True,
                       "items": {"type": "string",
                                 "pattern": r"^(?:[A-Za-z0-9._-]{1,249}|[A-Za-z0-9._-]{0,248}\*)$"},
                       "description": "The topics a step may write: names, or prefixes ending in '*'."},
            "bootstrap": {"type": "string"}, "registry_url": {"type": "string"}},
        "required": ["topics"],
        "additionalProperties": False,
    }

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [ActionSpec(
            name="produce", description="Produce one record (Avro through the registry, or JSON).",
            input_schema={"type": "object", "required": ["topic", "value"], "additionalProperties": False,
                          "properties": {"topic": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,249}$"},
                                         "value": {"type": "object"}, "key": {"type": "string"},
                                         "subject": {"type": "string", "minLength": 1},
                                         "format": {"enum": ["avro", "json"]},
                                         "headers": {"type": "object",
                                                     "additionalProperties": {"type": "string"}}}},
            output_schema={"type": "object", "properties": {"topic": {"type": "string"},
                                                            "partition": {"type": "integer"},
                                                            "offset": {"type": "integer"}}})]

    def _settings(self) -> Settings:
        base = self.ctx.settings if self.ctx is not None else get_settings()
        overrides = {name: self.config[option] for option, name in
                     (("bootstrap", "kafka_bootstrap"), ("registry_url", "schema_registry_url"))
                     if self.config.get(option)}
        return base.model_copy(update=overrides) if overrides else base

    def execute_action(self, action: str, data: dict[str, Any]) -> dict[str, Any]:
        if action != "produce":
            raise connector_error(ErrorCodes.INTERNAL, f"kafka has no action {action!r}")
        settings = self._settings()
        self._check_topic(data["topic"])
        schema_id: int | None = None
        if data.get("format", "avro") == "json":
            value = json.dumps(data["value"], separators=(",", ":"), allow_nan=False).encode()
        else:
            subject = data.get("subject") or f"{data['topic']}-value"
            schema_id, value = self._avro(settings, subject, data["value"])
        headers: list[tuple[str, str | bytes | None]] = [
            (str(name), str(text).encode()) for name, text in (data.get("headers") or {}).items()]
        if self.ctx is not None:
            headers.append(("automate-idempotency-key", self.ctx.idempotency_key.encode()))
        delivered: list[Any] = []
        producer = _producer(settings)
        from automate.transport import KafkaException

        try:
            producer.produce(data["topic"], value=value,
                             key=data["key"].encode() if data.get("key") else None,
                             headers=headers, on_delivery=lambda err, msg: delivered.append((err, msg)))
        except KafkaException as exc:  # refused before sending, e.g. above message.max.bytes (automate.sizes)
            raise connector_error(ErrorCodes.INPUT_INVALID,
                                  f"kafka refused the record: {exc.args[0].name()}") from None
        deadline = time.monotonic() + _DELIVERY_TIMEOUT_S
        while not delivered and time.monotonic() < deadline:
            producer.poll(0.05)  # serves this record's callback (or another thread's: same list)
        if not delivered:
            raise connector_error(ErrorCodes.TIMEOUT,
                                  f"kafka did not acknowledge the record to {data['topic']}")
        err, msg = delivered[0]
        if err is not None:
            retryable = bool(getattr(err, "retriable", lambda: True)())
            raise connector_error(ErrorCodes.NETWORK if retryable else ErrorCodes.INPUT_INVALID,
                                  f"kafka refused the record: {err.name()}")
        return {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
                "schema_id": schema_id}

    def _check_topic(self, topic: str) -> None:
        if not allows(list(self.config.get("topics", [])), topic):
            raise connector_error(ErrorCodes.FORBIDDEN, f"kafka.produce: topic {topic!r} is not one of the "
                                  "connection's topics")
        own = self.ctx.settings if self.ctx is not None else get_settings()
        # On any cluster (a second name for this one is only a string away): never Automate's topics
        # or internal ones.
        if topic.startswith((f"{own.topic_prefix}.", "_")) or topic == own.topic_prefix:
            raise connector_error(ErrorCodes.FORBIDDEN, f"kafka.produce: {topic!r} is one of Automate's or "
                                  "Kafka's own topics")

    def _avro(self, settings: Settings, subject: str, value: dict[str, Any]) -> tuple[int, bytes]:
        import fastavro
        from fastavro.validation import ValidationError, validate

        schema_id, parsed = _latest_schema(settings.registry_url, subject)
        try:
            validate(value, parsed, raise_errors=True)
        except ValidationError as exc:
            field = getattr(exc.errors[0], "field", None) if getattr(exc, "errors", None) else None
            raise connector_error(ErrorCodes.INPUT_INVALID, f"kafka.produce: value does not match {subject}"
                                  + (f" at {field}" if field else "")) from None
        out = io.BytesIO(frame(schema_id))
        out.seek(0, io.SEEK_END)
        fastavro.schemaless_writer(out, parsed, value)
        return schema_id, out.getvalue()

    def normalize_error(self, exc: Exception) -> Exception:
        import httpx

        if isinstance(exc, httpx.HTTPError):
            return connector_error(ErrorCodes.NETWORK, f"schema registry unreachable ({type(exc).__name__})")
        return normalize(exc)


def _producer(settings: Settings) -> Any:
    from automate import transport

    with _producers_lock:
        found = _producers.get(settings.bootstrap_servers)
        if found is None:
            found = _producers[settings.bootstrap_servers] = transport.producer(
                settings, **{"linger.ms": 0, "message.timeout.ms": int(_DELIVERY_TIMEOUT_S * 1000) - 5000})
        return found


def _latest_schema(registry_url: str, subject: str) -> tuple[int, Any]:
    """(id, parsed schema) of the latest version of ``subject``, kept a minute."""
    import fastavro
    import httpx

    key = (registry_url, subject)
    with _schemas_lock:
        cached = _schemas.get(key)
    if cached is not None and time.monotonic() - cached[0] < _SCHEMA_TTL_S:
        return cached[1], cached[2]
    response = httpx.get(f"{registry_url}/subjects/{quote(subject, safe='')}/versions/latest", timeout=10.0)
    if response.status_code == 404:
        raise connector_error(ErrorCodes.NOT_FOUND, f"the schema registry has no subject {subject!r}")
    if response.status_code != 200:
        raise from_http_status(response.status_code, f"the schema registry answered {response.status_code}")
    answer = response.json()
    parsed = fastavro.parse_schema(json.loads(answer["schema"]), named_schemas={})
    with _schemas_lock:
        _schemas[key] = (time.monotonic(), int(answer["id"]), parsed)
    return int(answer["id"]), parsed
