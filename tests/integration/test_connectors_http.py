"""The webhook and slack connectors against HTTP peers on loopback, through their real client libraries
(standardwebhooks, slack_sdk), and the framework's failures: connections, secrets, schemas."""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from automate.config import Settings
from automate.errors import ConnectorError
from automate.secrets.admin import set_secret
from tests.integration.connector_support import (
    TENANT,
    call,
    connection,
    failure,
)
from tests.integration.peers import Recorded, http_peer

pytestmark = pytest.mark.integration

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_webhook_deliveries_are_signed_per_standard_webhooks(connector_settings: Settings) -> None:
    s = connector_settings
    set_secret(s, "WHSEC", WHSEC, tenant=TENANT, scopes=["connector:webhook"])
    with http_peer(lambda r: (204, {}, b"")) as peer:
        connection(s, "partner-hooks", "webhook", {"secret": "$secret:WHSEC", "url": f"{peer.url}/hooks"})
        execution = "11111111-1111-4111-8111-111111111111"
        payload = {"order": "ORD-1", "amount": 150}
        first = call(s, "webhook.send", {"payload": payload, "event_type": "order.paid"},
                     connection="partner-hooks", execution_id=execution)
        again = call(s, "webhook.send", {"payload": payload}, connection="partner-hooks",
                     execution_id=execution, attempt=2)
    assert first["status"] == 204 and first["webhook_id"] == again["webhook_id"]  # a retry, the same id
    request = peer.requests[0]
    assert request.path == "/hooks" and request.headers["webhook-event-type"] == "order.paid"
    assert Webhook(WHSEC).verify(request.body, request.headers) == {"order": "ORD-1", "amount": 150}
    tampered = {**request.headers, "webhook-signature": "v1,AAAA"}
    with pytest.raises(Exception, match="signature"):
        Webhook(WHSEC).verify(request.body, tampered)
    assert WHSEC not in json.dumps(first) + str(peer.requests[0].headers.get("authorization"))


def test_webhook_refuses_private_targets_unless_allowed(connector_settings: Settings) -> None:
    strict = Settings(**{**connector_settings.model_dump(), "http_allowlist": ()})
    set_secret(strict, "WHSEC", WHSEC, tenant=TENANT)
    with http_peer(lambda r: (204, {}, b"")) as peer:
        connection(strict, "local", "webhook", {"secret": "$secret:WHSEC", "url": peer.url})
        refused = failure(strict, "webhook.send", {"payload": {}}, connection="local")
    assert refused.code == "http.forbidden_target" and not refused.retryable and peer.requests == []


def _slack(status: int, body: dict[str, object], headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    def respond(request: Recorded) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()
    return respond


def _slack_config(url: str) -> dict[str, str]:
    return {"token": "$secret:SLACK_BOT_TOKEN", "base_url": f"{url}/api/"}


def test_slack_posts_through_the_web_api_with_the_bot_token(connector_settings: Settings) -> None:
    s = connector_settings
    set_secret(s, "SLACK_BOT_TOKEN", "xoxb-1-2-3", tenant=TENANT)
    with http_peer(_slack(200, {"ok": True, "channel": "C123", "ts": "1700000000.000100"})) as peer:
        connection(s, "team-slack", "slack", _slack_config(peer.url))
        sent = call(s, "slack.send_message", {"channel": "#orders", "text": "ORD-1 paid"},
                    connection="team-slack")
    assert sent == {"channel": "C123", "ts": "1700000000.000100"}
    (request,) = peer.requests
    assert request.path == "/api/chat.postMessage" and request.headers["authorization"] == "Bearer xoxb-1-2-3"
    assert b"ORD-1 paid" in request.body and b"orders" in request.body


@pytest.mark.parametrize(("status", "body", "headers", "code", "retryable", "retry_after"), [
    (200, {"ok": False, "error": "invalid_auth"}, {}, "auth_failed", False, None),
    (200, {"ok": False, "error": "missing_scope"}, {}, "forbidden", False, None),
    (200, {"ok": False, "error": "channel_not_found"}, {}, "not_found", False, None),
    (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}, "rate_limited", True, 7.0),
    (503, {"ok": False, "error": "service_unavailable"}, {}, "upstream_5xx", True, None),
    (200, {"ok": False, "error": "too_many_attachments"}, {}, "input.invalid", False, None),
])
def test_slack_errors_become_connector_codes(connector_settings: Settings, status: int,
                                              body: dict[str, object], headers: dict[str, str], code: str,
                                              retryable: bool, retry_after: float | None) -> None:
    s = connector_settings
    set_secret(s, "SLACK_BOT_TOKEN", "xoxb-secret-token", tenant=TENANT)
    with http_peer(_slack(status, body, headers)) as peer:
        connection(s, "team-slack", "slack", _slack_config(peer.url))
        error = failure(s, "slack.send_message", {"channel": "C1", "text": "hi"}, connection="team-slack")
    assert (error.code, error.retryable, error.retry_after) == (code, retryable, retry_after)
    assert "xoxb-secret-token" not in str(error)


def test_slack_incoming_webhooks(connector_settings: Settings) -> None:
    s = connector_settings
    with http_peer(lambda r: (200, {"Content-Type": "text/plain"}, b"ok")) as peer:
        set_secret(s, "SLACK_WEBHOOK", f"{peer.url}/services/T0/B0/XXXX", tenant=TENANT)
        connection(s, "alerts", "slack", {"webhook_url": "$secret:SLACK_WEBHOOK"})
        assert call(s, "slack.post_webhook", {"text": "deploy done"}, connection="alerts") == {"status": 200}
    assert peer.requests[0].path == "/services/T0/B0/XXXX" and b"deploy done" in peer.requests[0].body


def test_connections_hold_references_never_credentials(connector_settings: Settings) -> None:
    with pytest.raises(ConnectorError, match=r"\$.token: a credential must be a secret reference") as refused:
        connection(connector_settings, "bad", "slack", {"token": "xoxb-plaintext"})
    assert refused.value.code == "config.invalid" and "xoxb-plaintext" not in str(refused.value)
    with pytest.raises(ConnectorError, match="unknown connector 'nope'"):
        connection(connector_settings, "x", "nope", {})
    with pytest.raises(ConnectorError, match=r"at \$: .*'secret' is a required property"):
        connection(connector_settings, "x", "webhook", {})


def test_what_a_step_names_that_is_missing_or_not_allowed(connector_settings: Settings) -> None:
    s = connector_settings
    assert failure(s, "slack.send_message", {"channel": "C", "text": "t"}, connection="absent").code == \
        "connection.unknown"
    assert failure(s, "slack.send_message", {"channel": "C", "text": "t"}).code == "connection.unknown"
    connection(s, "hooks", "webhook", {"secret": "$secret:WHSEC"})
    assert failure(s, "slack.send_message", {"channel": "C", "text": "t"}, connection="hooks").code == \
        "config.invalid"
    assert failure(s, "webhook.send", {"payload": {}}, connection="hooks").code == "secret.not_found"
    set_secret(s, "WHSEC", WHSEC, tenant=TENANT, scopes=["automation:billing"])
    denied = failure(s, "webhook.send", {"payload": {}}, connection="hooks", automation="orders")
    assert (denied.code, denied.retryable) == ("secret.access_denied", False)
    bad_input = failure(s, "webhook.send", {"payload": "not an object"}, connection="hooks",
                        automation="billing")
    assert bad_input.code == "input.invalid" and "$.payload" in bad_input.message


def test_applying_a_workflow_checks_its_connections_and_secrets(connector_settings: Settings) -> None:
    import psycopg

    from automate.errors import WorkflowValidationError
    from automate.runtime.actions import registry
    from automate.runtime.workflows import validate
    from automate.runtime.workflows.store import apply, list_workflows

    s = connector_settings
    spec = validate({"slug": "notify", "name": "notify", "tenant": TENANT, "steps": [
        {"id": "chat", "action": "slack.send_message", "connection": "team-slack",
         "input": {"channel": "C1", "text": "hi"}},
        {"id": "call", "action": "http.request",
         "input": {"url": "https://x.test", "headers": {"Authorization": "Bearer $secret:API_TOKEN"}}},
    ]}, registry.names())
    with psycopg.connect(s.dsn) as conn:
        with pytest.raises(WorkflowValidationError) as refused:
            apply(conn, spec, s)
        assert refused.value.faults == [
            ("$.steps[0].connection",
             "tenant 'acme' has no connection 'team-slack' (`automate connections set`)"),
            ("$.steps[1].input",
             "$secret:API_TOKEN: tenant 'acme' has no such secret (`automate secrets set`)")]
        connection(s, "team-slack", "slack", {"token": "$secret:SLACK_BOT_TOKEN"})
        set_secret(s, "SLACK_BOT_TOKEN", "xoxb-1", tenant=TENANT, scopes=["automation:other"])
        set_secret(s, "API_TOKEN", "tok", tenant=TENANT, scopes=["automation:notify", "connector:http"])
        with pytest.raises(WorkflowValidationError, match=r"BOT_TOKEN may be read by automation:other only"):
            apply(conn, spec, s)
        assert list_workflows(conn, TENANT) == []  # nothing half-applied
        set_secret(s, "SLACK_BOT_TOKEN", "xoxb-1", tenant=TENANT, scopes=["connector:slack"])
        assert apply(conn, spec, s).version == 1
