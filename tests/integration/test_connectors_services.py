"""The email, aws, kafka and postgres connectors against their protocol peers, through their real client
libraries: SMTP with STARTTLS and AUTH (aiosmtpd), S3/SQS/SNS (moto in server mode, boto3), the local
Kafka and schema registry, and the local PostgreSQL."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import fastavro
import httpx
import psycopg
import pytest

from automate.config import Settings
from automate.contracts import split_wire
from automate.errors import ConnectorError
from automate.secrets.admin import set_secret
from automate.topics import ensure_topics
from tests.integration.connector_support import TENANT, call, connection, failure
from tests.integration.peers import SmtpPeer, moto_server, smtp_server
from tests.support import consume, header

pytestmark = pytest.mark.integration


def _smtp_config(peer: SmtpPeer) -> dict[str, object]:
    return {"host": peer.host, "port": peer.port, "username": "shop", "password": "$secret:SMTP_PASSWORD",
            "from_address": "shop@example.com", "ca_file": peer.ca_file}


def test_email_goes_out_over_starttls_with_auth(connector_settings: Settings, tmp_path: Path) -> None:
    s = connector_settings
    set_secret(s, "SMTP_PASSWORD", "smtp-pass", tenant=TENANT, scopes=["connector:email"])
    with smtp_server(tmp_path) as smtp:
        connection(s, "mail", "email", _smtp_config(smtp))
        sent = call(s, "email.send", {"to": ["ana@example.com"], "subject": "Your order ORD-1",
                                      "text": "Thanks!", "html": "<p>Thanks!</p>"},
                    connection="mail", execution_id="22222222-2222-4222-8222-222222222222")
    assert sent["accepted"] == ["ana@example.com"]
    (message,) = smtp.messages
    assert message["Subject"] == "Your order ORD-1" and message["To"] == "ana@example.com"
    assert message["Message-ID"] == sent["message_id"] == (
        "<22222222-2222-4222-8222-222222222222.act@example.com>")
    assert smtp.logins == ["shop"]


def test_email_failures(connector_settings: Settings, tmp_path: Path) -> None:
    s = connector_settings
    set_secret(s, "SMTP_PASSWORD", "wrong-pass", tenant=TENANT)
    message = {"to": "ana@example.com", "subject": "s", "text": "t"}
    with smtp_server(tmp_path) as smtp:
        connection(s, "mail", "email", _smtp_config(smtp))
        refused = failure(s, "email.send", message, connection="mail")
        assert (refused.code, refused.retryable) == ("auth_failed", False)
        assert "wrong-pass" not in str(refused)
    with smtp_server(tmp_path, starttls=False) as plain:
        connection(s, "plain", "email", _smtp_config(plain))
        clear = failure(s, "email.send", message, connection="plain")
        assert clear.code == "config.invalid" and "STARTTLS" in clear.message and plain.logins == []
    unreachable = failure(s, "email.send", message, connection="plain")  # the server is gone
    assert (unreachable.code, unreachable.retryable) == ("network", True)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, connector_settings: Settings) -> Iterator[str]:
    """moto's AWS on loopback, and an aws connection to it whose keys come from the secret store."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto_server() as endpoint:
        for name, value in (("AWS_KEY_ID", "AKIAEXAMPLE"), ("AWS_SECRET", "example-secret-key")):
            set_secret(connector_settings, name, value, tenant=TENANT)
        connection(connector_settings, "aws-main", "aws", {
            "region": "us-east-1", "endpoint_url": endpoint, "access_key_id": "$secret:AWS_KEY_ID",
            "secret_access_key": "$secret:AWS_SECRET"})
        yield endpoint


def _boto(service: str, endpoint: str) -> object:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def test_aws_s3_put_and_get(connector_settings: Settings, aws: str) -> None:
    s = connector_settings
    _boto("s3", aws).create_bucket(Bucket="invoices")  # type: ignore[attr-defined]
    put = call(s, "aws.s3_put_object", {"bucket": "invoices", "key": "ORD-1.txt", "body": "total: 150"},
               connection="aws-main")
    got = call(s, "aws.s3_get_object", {"bucket": "invoices", "key": "ORD-1.txt"}, connection="aws-main")
    assert got["body"] == "total: 150" and got["etag"] == put["etag"]
    missing = failure(s, "aws.s3_get_object", {"bucket": "invoices", "key": "nope"}, connection="aws-main")
    assert (missing.code, missing.retryable) == ("not_found", False)


def test_aws_uses_the_workers_own_identity_only_when_told(connector_settings: Settings, aws: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    s = connector_settings
    with pytest.raises(ConnectorError, match="or use_default_credentials: true") as refused:
        connection(s, "aws-ambient", "aws", {"region": "us-east-1", "endpoint_url": aws})
    assert refused.value.code == "config.invalid"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWORKER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
    connection(s, "aws-ambient", "aws", {"region": "us-east-1", "endpoint_url": aws,
                                         "use_default_credentials": True})
    _boto("s3", aws).create_bucket(Bucket="reports")  # type: ignore[attr-defined]
    put = call(s, "aws.s3_put_object", {"bucket": "reports", "key": "r.txt", "body": "ok"},
               connection="aws-ambient")
    assert put["etag"]


def test_aws_sqs_and_sns(connector_settings: Settings, aws: str) -> None:
    s = connector_settings
    sqs, sns = _boto("sqs", aws), _boto("sns", aws)
    queue = sqs.create_queue(QueueName="orders")["QueueUrl"]  # type: ignore[attr-defined]
    sent = call(s, "aws.sqs_send_message", {"queue_url": queue, "body": '{"order": "ORD-1"}'},
                connection="aws-main")
    (received,) = sqs.receive_message(QueueUrl=queue)["Messages"]  # type: ignore[attr-defined]
    assert received["MessageId"] == sent["message_id"] and received["Body"] == '{"order": "ORD-1"}'
    topic = sns.create_topic(Name="alerts")["TopicArn"]  # type: ignore[attr-defined]
    published = call(s, "aws.sns_publish", {"topic_arn": topic, "message": "disk full", "subject": "alert"},
                     connection="aws-main")
    assert published["message_id"]
    gone = failure(s, "aws.sqs_send_message", {"queue_url": f"{aws}/123456789012/nope", "body": "x"},
                   connection="aws-main")
    assert gone.code == "not_found"


def test_kafka_produces_avro_with_the_registry_schema(connector_settings: Settings) -> None:
    s = connector_settings
    topic = f"partner.shipments.{uuid.uuid4().hex[:6]}"
    ensure_topics(s, [topic], partitions=1)
    connection(s, "partner-bus", "kafka", {"topics": ["partner.shipments.*"]})
    schema = {"type": "record", "name": "Shipment", "namespace": "com.partner",
              "fields": [{"name": "order_id", "type": "string"}, {"name": "parcels", "type": "int"}]}
    subject = f"{topic}-value"
    answer = httpx.post(f"{s.registry_url}/subjects/{subject}/versions", json={"schema": json.dumps(schema)},
                        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"}, timeout=15)
    assert answer.status_code == 200, answer.text
    value = {"order_id": "ORD-1", "parcels": 2}
    produced = call(s, "kafka.produce", {"topic": topic, "key": "ORD-1", "value": value},
                    connection="partner-bus", execution_id="33333333-3333-4333-8333-333333333333")
    (msg,) = consume(s.bootstrap_servers, topic, lambda m: len(m) >= 1)
    schema_id, body = split_wire(msg.value())
    assert schema_id == produced["schema_id"] == answer.json()["id"] and msg.key() == b"ORD-1"
    assert fastavro.schemaless_reader(io.BytesIO(body), fastavro.parse_schema(schema)) == value
    assert header(msg, "automate-idempotency-key") == b"33333333-3333-4333-8333-333333333333:act"
    wrong = failure(s, "kafka.produce", {"topic": topic, "value": {"order_id": 5}}, connection="partner-bus")
    assert wrong.code == "input.invalid" and f"does not match {subject}" in wrong.message
    assert failure(s, "kafka.produce", {"topic": topic, "value": {}, "subject": "no-such-subject"},
                   connection="partner-bus").code == "not_found"
    unlisted = failure(s, "kafka.produce", {"topic": "payments", "value": {}}, connection="partner-bus")
    assert (unlisted.code, unlisted.retryable) == ("forbidden", False)
    connection(s, "anything", "kafka", {"topics": ["*"]})  # still never Automate's own topics
    for own in (s.topic("dlq"), s.topic("workflow.orders"), "_schemas"):
        forged = failure(s, "kafka.produce", {"topic": own, "value": {}, "format": "json"},
                         connection="anything")
        assert forged.code == "forbidden" and "Automate's or Kafka's own topics" in forged.message


def test_postgres_runs_a_parameterized_statement_on_its_database(connector_settings: Settings) -> None:
    s = connector_settings
    with psycopg.connect(s.dsn) as conn:
        conn.execute("CREATE TABLE customer (id text PRIMARY KEY, tier text, since date)")
        conn.execute("INSERT INTO customer VALUES ('C1', 'gold', '2024-01-02'), ('C2', 'basic', NULL)")
    set_secret(s, "REPORTING_DB", s.dsn, tenant=TENANT, scopes=["connector:postgres"])
    connection(s, "reporting", "postgres", {"dsn": "$secret:REPORTING_DB", "read_only": True,
                                            "statement_timeout_ms": 2000})
    select = "SELECT id, tier, since FROM customer WHERE id = %(id)s"
    found = call(s, "postgres.query", {"sql": select, "params": {"id": "C1'; DROP TABLE customer; --"}},
                 connection="reporting")
    assert found == {"rows": [], "rowcount": 0}  # a parameter is a value, never SQL
    found = call(s, "postgres.query", {"sql": select, "params": {"id": "C1"}}, connection="reporting")
    assert found["rows"] == [{"id": "C1", "tier": "gold", "since": "2024-01-02"}]
    write = failure(s, "postgres.query", {"sql": "DELETE FROM customer"}, connection="reporting")
    assert write.code == "forbidden"  # a read-only connection
    slow = failure(s, "postgres.query", {"sql": "SELECT pg_sleep(5)"}, connection="reporting")
    assert (slow.code, slow.retryable) == ("timeout", True)
    like = call(s, "postgres.query", {"sql": "SELECT id FROM customer WHERE tier LIKE 'go%'"},
                connection="reporting")
    assert like["rows"] == [{"id": "C1"}]  # without params, % is the statement's own
    two = failure(s, "postgres.query", {"sql": "SELECT 1; SET default_transaction_read_only = off"},
                  connection="reporting")
    assert two.code == "input.invalid"  # one statement a call: nothing escapes read-only
    broken = failure(s, "postgres.query", {"sql": "SELEKT 1"}, connection="reporting")
    assert (broken.code, broken.retryable) == ("input.invalid", False)
    assert s.dsn not in str(broken) + str(slow) + str(write)
