"""``automate serve`` on a real uvicorn server: signed deliveries become events, everything else a 4xx
with nothing emitted; replays are refused."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn

from automate.config import Settings
from automate.secrets.admin import set_secret
from automate.serve import create_app
from automate.serve_metrics import ServeMetrics, measured
from automate.supervise import settings_env
from automate_connectors.builtin.webhook import sign
from tests.integration.connector_support import TENANT, connection
from tests.integration.peers import free_port
from tests.support import assert_eventually

pytestmark = pytest.mark.integration

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def metrics() -> ServeMetrics:
    return ServeMetrics()


@pytest.fixture
def server(connector_settings: Settings, metrics: ServeMetrics) -> Iterator[str]:
    s = connector_settings
    set_secret(s, "PARTNER_WHSEC", WHSEC, tenant=TENANT, scopes=["connector:webhook"])
    connection(s, "partner", "webhook", {"secret": "$secret:PARTNER_WHSEC", "event_type": "partner.shipment"})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(measured(create_app(s, max_body=4096), metrics), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"{url}/hooks/{TENANT}/partner/received"
    server.should_exit = True
    thread.join(10)


def _signed(body: bytes, webhook_id: str = "msg_1", at: datetime | None = None,
            secret: str = WHSEC) -> dict[str, str]:
    when = at or datetime.now(UTC)
    return {"content-type": "application/json", "webhook-id": webhook_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": sign(secret, webhook_id, when, body)}


def _events(settings: Settings) -> list[tuple[str, str]]:
    with psycopg.connect(settings.dsn) as conn:
        return [(str(r[0]), str(r[1])) for r in conn.execute(
            "SELECT type, tenant FROM automate_outbox ORDER BY created_at").fetchall()]


def test_a_signed_delivery_becomes_one_event_and_a_replay_does_not(connector_settings: Settings,
                                                                   server: str) -> None:
    body = b'{"shipment": "SH-1", "order": "ORD-1"}'
    first = httpx.post(server, content=body, headers=_signed(body))
    assert first.status_code == 200 and first.json()["duplicate"] is False
    again = httpx.post(server, content=body, headers=_signed(body))  # the same webhook id, within the window
    assert again.status_code == 200
    assert again.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    old = datetime.now(UTC) - timedelta(minutes=10)
    late = httpx.post(server, content=body, headers=_signed(body, "msg_2", at=old))  # a captured one, later
    assert (late.status_code, late.json()) == (401, {"error": "stale_timestamp"})
    assert _events(connector_settings) == [("partner.shipment", TENANT)]


def test_what_is_refused_emits_nothing(connector_settings: Settings, server: str,
                                       metrics: ServeMetrics) -> None:
    body = b'{"shipment": "SH-2"}'
    forged = _signed(body, secret="whsec_" + "A" * 43)
    cases = [
        (httpx.post(server, content=body, headers=forged), 401, "bad_signature"),
        (httpx.post(server, content=body, headers={"content-type": "application/json"}), 401, "unsigned"),
        (httpx.post(server, content=b"x" * 5000, headers=_signed(b"x" * 5000, "msg_3")), 413,
         "body_too_large"),
        (httpx.post(server, content=b"{not json", headers=_signed(b"{not json", "msg_4")), 400, "not_json"),
        (httpx.post(server, content=b"[1, 2]", headers=_signed(b"[1, 2]", "msg_5")), 400, "not_an_object"),
        # no endpoint answers as a bad signature: a prober cannot tell which tenants and connections exist
        (httpx.post(server.replace("/partner/", "/nobody/"), content=body, headers=_signed(body)), 401,
         "bad_signature"),
        (httpx.post(server.replace(f"/{TENANT}/", "/globex/"), content=body, headers=_signed(body)), 401,
         "bad_signature"),
        (httpx.post(server.replace("/partner/", "/nobody/"), content=body), 401, "unsigned"),
    ]
    for response, status, error in cases:
        assert (response.status_code, response.json()["error"]) == (status, error)
    set_secret(connector_settings, "BROKEN_WHSEC", "whsec_!!!", tenant=TENANT)  # decodes to no key
    connection(connector_settings, "broken", "webhook", {"secret": "$secret:BROKEN_WHSEC"})
    ours = httpx.post(server.replace("/partner/", "/broken/"), content=body, headers=_signed(body, "msg_6"))
    assert (ours.status_code, ours.json()) == (503, {"error": "unavailable"})  # our fault, not the sender's
    assert _events(connector_settings) == []
    base = server.split("/hooks/")[0]
    assert httpx.get(f"{base}/health").status_code == 200
    assert httpx.get(f"{base}/hooks/{TENANT}/partner/received/and/more").status_code == 404
    assert httpx.get(f"{base}/wp-admin.php").status_code == 404
    hooks = "/hooks/{tenant}/{connection}/{trigger}"
    counted = {(s.labels["route"], s.labels["status"]): s.value
               for family in metrics.registry.collect() if family.name == "automate_serve_requests"
               for s in family.samples if s.name.endswith("_total")}
    assert counted == {(hooks, "401"): 5, (hooks, "413"): 1, (hooks, "400"): 2, (hooks, "503"): 1,
                       ("/health", "200"): 1, ("unmatched", "404"): 2}  # (a path asked for is no label)
    assert metrics.registry.get_sample_value("automate_serve_request_seconds_count", {"route": hooks}) == 9


def test_the_serve_command_serves_its_metrics(connector_settings: Settings, tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMATE_")} | settings_env(
        connector_settings)
    with open(tmp_path / "serve.log", "wb") as log, subprocess.Popen(
            [sys.executable, "-m", "automate.cli", "serve", "--port", str(port), "--metrics-port",
             str(metrics_port)], env=env, stdout=log, stderr=subprocess.STDOUT) as proc:
        try:
            def healthy() -> bool:
                return httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200

            assert_eventually(lambda: _answers(healthy), timeout=30)
            text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            assert 'automate_serve_requests_total{route="/health",status="200"}' in text
        finally:
            proc.terminate()
            proc.wait(10)


def _answers(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except httpx.TransportError:
        return False
