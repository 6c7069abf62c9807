"""For the services that consume our topics: the AsyncAPI document (docs/asyncapi.yaml) carries the very
schemas `automate migrate` registers, and the consumer guide's example (examples/consumer/read_events.py,
confluent-kafka and fastavro only) reads and decodes events the pipeline published."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from automate.asyncapi import document
from automate.config import Settings
from automate.events import emit_event
from automate.stack.base import http_json
from automate.topics import events_topic

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer" / "read_events.py"


def test_the_asyncapi_document_carries_the_schemas_migrate_registers(db_settings: Settings) -> None:
    s = db_settings  # (its template was migrated: every contract registered)
    messages = document()["components"]["messages"]
    schemas = [m["payload"]["schema"] for m in messages.values() if "payload" in m]
    assert len(schemas) >= 6
    for schema in schemas:
        subject = f"{schema['namespace']}.{schema['name']}" if "namespace" in schema else schema["name"]
        latest = http_json("GET", f"{s.registry_url}/subjects/{subject}/versions/latest")
        assert json.loads(latest["schema"]) == schema, subject


def test_the_guides_example_reads_and_decodes_published_events(db_settings: Settings) -> None:
    from automate_core.outbox.relay import Relay

    s = db_settings
    emit_event("order.created", {"order_id": "ORD-1", "amount": 120.5, "currency": "EUR",
                                 "customer_email": "a@example.com"}, settings=s)
    emit_event("note.added", {"text": "no contract: the generic envelope"}, settings=s)
    with Relay(s) as relay:
        relay.drain()
    shown = subprocess.run([sys.executable, str(EXAMPLE), "--bootstrap", s.bootstrap_servers,
                            "--registry", s.registry_url, "--topic", events_topic(s), "--max", "2",
                            "--timeout", "60"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    lines = [json.loads(line) for line in shown.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 2, shown.stdout
    by_type = {line["type"]: line for line in lines}
    assert by_type["order.created"]["payload"]["order_id"] == "ORD-1"
    assert by_type["note.added"]["payload"] == {"text": "no contract: the generic envelope"}
    assert all(line["tenant"] == s.tenant for line in lines)
