"""docs/asyncapi.yaml is what automate.asyncapi writes, its references resolve, it carries every Avro
contract of schemas/, and it has the shape of an AsyncAPI 3.0 document. (No package in the environment
ships the AsyncAPI JSON schema, so the shape is checked here field by field.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import fastavro
import pytest
import yaml

from automate.asyncapi import AVRO, document, path, text
from automate.config import Settings
from automate.contracts import schemas_dir
from automate.step_tasks import TARGET_HEADER
from automate.topics import RETRY_TIERS, dlq_topic, events_topic, is_workflow_topic, retry_topic

DOC = document()
COMPONENT_ID = re.compile(r"^[a-zA-Z0-9.\-_]+$")  # the specification's pattern of component keys


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only references inside the document"
    node: Any = DOC
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_versioned_file_is_what_the_module_writes() -> None:
    assert path().read_text() == text(), f"{path().name} differs: run `.venv/bin/python -m automate.asyncapi`"


def test_the_yaml_reads_back_as_the_document() -> None:
    assert "&id" not in text()  # no anchors: every schema written out where it is used
    assert yaml.safe_load(text()) == json.loads(json.dumps(DOC))


def test_every_reference_resolves_and_messages_are_components() -> None:
    for ref in _refs(DOC):
        _resolve(ref)
    components = DOC["components"]["messages"]
    assert all(COMPONENT_ID.match(key) for key in components)
    used = set()
    for name, channel in DOC["channels"].items():
        assert COMPONENT_ID.match(name) and channel["messages"]
        for key, message in channel["messages"].items():
            assert COMPONENT_ID.match(key)
            assert message == {"$ref": f"#/components/messages/{key}"}
            used.add(key)
    assert used == set(components), "a component message no channel carries"


def test_operations_receive_the_messages_of_their_channel() -> None:
    received = set()
    for operation in DOC["operations"].values():
        assert operation["action"] == "receive"
        channel = operation["channel"]["$ref"]
        assert _resolve(channel) in DOC["channels"].values()
        refs = [m["$ref"] for m in operation["messages"]]
        assert refs and all(ref.startswith(channel + "/messages/") for ref in refs)
        assert len(refs) == len(_resolve(channel)["messages"])
        received.add(channel)
    assert received == {f"#/channels/{name}" for name in DOC["channels"]}


def test_every_avro_contract_in_schemas_is_a_payload() -> None:
    payloads = [m["payload"] for m in DOC["components"]["messages"].values()]
    assert all(p["schemaFormat"] == AVRO for p in payloads)
    schemas = [p["schema"] for p in payloads]
    files = [*sorted((schemas_dir() / "automate").glob("*.avsc")),
             *sorted((schemas_dir() / "events").glob("*.avsc"))]
    assert files
    for file in files:
        assert json.loads(file.read_text()) in schemas, f"{file.name} is not in the document"
    assert len(schemas) == len(files)
    for schema in schemas:
        fastavro.parse_schema(schema)


@pytest.mark.parametrize("prefix", ["automate", "acme-prod"])
def test_channels_are_the_topics_of_the_prefix(prefix: str) -> None:
    settings = Settings.model_construct(topic_prefix=prefix)
    channels = document(prefix)["channels"]
    assert channels["events"]["address"] == events_topic(settings)
    assert channels["deadLetters"]["address"] == dlq_topic(settings)
    assert channels["workflow"]["address"] == f"{prefix}.workflow.{{slug}}"
    tier = channels["retry"]
    assert tier["parameters"]["tier"]["enum"] == [t.name for t in RETRY_TIERS]
    assert {tier["address"].replace("{tier}", t.name) for t in RETRY_TIERS} == {
        retry_topic(settings, t) for t in RETRY_TIERS}
    for channel in channels.values():  # every {parameter} of an address is declared, and only those
        assert set(re.findall(r"\{(\w+)\}", channel["address"])) == set(channel.get("parameters", {}))


def test_the_retry_target_pattern_is_the_retry_worker_s_rule() -> None:
    settings = Settings.model_construct(topic_prefix="automate")
    pattern = DOC["components"]["messages"]["StepTask"]["headers"]["properties"][TARGET_HEADER]["pattern"]
    for name in ["automate.workflow.orders", "automate.workflow.a-1", "automate.workflowXorders",
                 "automate.workflow.", "automate.events", "other.workflow.orders", "automate.workflow.Orders",
                 "automate.workflow." + "a" * 64]:
        assert (re.fullmatch(pattern, name) is not None) == is_workflow_topic(settings, name), name


def test_messages_have_the_shape_of_the_specification() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert DOC["info"]["title"] and DOC["info"]["version"]
    server = DOC["servers"]["local"]
    assert server["protocol"] == "kafka" and server["variables"]["bootstrap"]["default"] == "127.0.0.1:29092"
    assert server["bindings"]["kafka"]["schemaRegistryUrl"].endswith("/apis/ccompat/v7")
    for key, message in DOC["components"]["messages"].items():
        assert set(message) <= {"name", "title", "summary", "description", "headers", "payload", "bindings",
                                "contentType"}, key
        headers = message.get("headers")
        if headers is not None:
            assert headers["type"] == "object"
            assert set(headers.get("required", [])) <= set(headers["properties"])
            assert all(p["type"] in ("string", ["string", "null"]) for p in headers["properties"].values())
        kafka = message["bindings"]["kafka"]
        assert set(kafka) == {"key", "schemaIdLocation", "schemaIdPayloadEncoding", "schemaLookupStrategy",
                              "bindingVersion"}
        assert kafka["schemaIdLocation"] == "payload" and kafka["key"]["description"]


def test_events_carry_the_cloudevents_headers_the_publishers_write() -> None:
    messages = DOC["components"]["messages"]
    events = DOC["channels"]["events"]["messages"]
    for key in events:
        headers = messages[key]["headers"]
        assert headers["required"] == ["ce_specversion", "ce_source", "ce_id", "ce_type", "ce_tenant"]
        assert headers["properties"]["traceparent"]["type"] == ["string", "null"]  # (NULL: emitted untraced)
        assert headers["properties"]["ce_specversion"]["const"] == "1.0"
    assert messages["event.order.created"]["headers"]["properties"]["ce_type"]["const"] == "order.created"
    assert "const" not in messages["GenericEvent"]["headers"]["properties"]["ce_type"]
