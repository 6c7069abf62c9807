"""Each service of the local stack, spoken to over its own real protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from automate.config import Settings
from tests.support import assert_eventually

pytestmark = pytest.mark.integration


def test_postgres_is_15_with_logical_wal_and_not_root(stack: Settings) -> None:
    with psycopg.connect(stack.dsn) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        wal = conn.execute("SHOW wal_level").fetchone()
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert version and 150000 <= int(version[0]) < 160000
    assert wal == ("logical",)
    assert pid is not None
    assert os.stat(f"/proc/{pid[0]}").st_uid != 0


def test_kafka_produce_and_consume(stack: Settings) -> None:
    topic = f"test.kafka.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": stack.bootstrap_servers, "partitioner": "murmur2_random"})
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(30)}
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": stack.bootstrap_servers, "group.id": topic,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    received: dict[bytes, bytes] = {}
    try:
        def all_back() -> bool:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                received[msg.key()] = msg.value()
            return received == sent
        assert_eventually(all_back, timeout=60, interval=0)
    finally:
        consumer.close()


def test_connect_rest_lists_the_debezium_plugins(stack: Settings) -> None:
    root = httpx.get(stack.connect_base_url + "/", timeout=10).json()
    assert root["version"].startswith("4.3.")
    plugins = httpx.get(stack.connect_base_url + "/connector-plugins",
                        params={"connectorsOnly": "false"}, timeout=10).json()
    classes = {p["class"] for p in plugins}
    assert "io.debezium.connector.postgresql.PostgresConnector" in classes
    assert "io.debezium.transforms.outbox.EventRouter" in classes


def test_registry_ccompat_registers_and_enforces_backward_compatibility(stack: Settings) -> None:
    subject = f"test-{uuid.uuid4().hex[:8]}-value"
    base = stack.registry_url
    v1 = {"type": "record", "name": "T", "fields": [{"name": "a", "type": "string"}]}
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
    first = httpx.post(f"{base}/subjects/{subject}/versions", json={"schema": json.dumps(v1)},
                       headers=headers, timeout=10)
    assert first.status_code == 200, first.text
    schema_id = first.json()["id"]
    again = httpx.post(f"{base}/subjects/{subject}/versions", json={"schema": json.dumps(v1)},
                       headers=headers, timeout=10)
    assert again.json()["id"] == schema_id
    fetched = httpx.get(f"{base}/schemas/ids/{schema_id}", timeout=10).json()
    assert json.loads(fetched["schema"])["name"] == "T"
    # A new required field without a default breaks BACKWARD compatibility.
    v2 = {"type": "record", "name": "T",
          "fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "int"}]}
    check = httpx.post(f"{base}/compatibility/subjects/{subject}/versions/latest",
                       json={"schema": json.dumps(v2)}, headers=headers, timeout=10)
    assert check.status_code == 200, check.text
    assert check.json()["is_compatible"] is False
    assert httpx.get(f"{base}/config", timeout=10).json()["compatibilityLevel"] == "BACKWARD"


def test_prometheus_query_api_answers(stack: Settings) -> None:
    def scraped() -> list[dict[str, object]]:
        url = stack.prometheus_base_url + "/api/v1/query"
        body = httpx.get(url, params={"query": "up"}, timeout=10).json()
        assert body["status"] == "success"
        return [r for r in body["data"]["result"] if r["value"][1] == "1"]

    assert assert_eventually(scraped, timeout=60, interval=1)


def test_smoke_command_round_trips_one_avro_record(stack: Settings) -> None:
    topic = f"test.smoke.{uuid.uuid4().hex[:8]}"
    result = subprocess.run([sys.executable, "-m", "automate.cli", "smoke", "--topic", topic],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["received"] == report["sent"]
    assert report["topic"] == topic and report["schema_id"] > 0
