"""``automate serve``: inbound webhooks, an HTTP server (Starlette on uvicorn) with an endpoint for every
connection of a connector that declares a trigger (``POST /hooks/<tenant>/<connection>/<trigger>``).

A delivery becomes one event (``emit_event``) only when all of this holds, else it gets a 4xx and nothing
is emitted:

- its body is at most ``--max-body`` bytes (413) and a JSON object (400) matching the trigger's payload
  schema (422);
- it is signed per the Standard Webhooks scheme with the connection's secret (``webhook-id``,
  ``webhook-timestamp``, ``webhook-signature``), and its timestamp is within the connection's tolerance
  of now (default five minutes): otherwise 401, so a captured delivery cannot be replayed later;
- its ``webhook-id`` has not been seen for this connection: a second delivery of one id (a sender's retry,
  or a replay within the window) gets ``200 {"duplicate": true}`` and emits nothing (the event's dedupe
  key is the webhook id).

The signature headers and the timestamp are checked before anything is looked up, and a delivery to a
tenant, connection or trigger that does not exist gets the same 401 as a bad signature: a prober learns
nothing about which endpoints exist. The event's type is the connection's ``event_type`` (default
``webhook.<connection>``); its payload, the body.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from automate import tracing
from automate.config import Settings
from automate.db.connections import ConnectionStore
from automate.db.context import pool
from automate.errors import AutomateError, ErrorCodes
from automate.secrets import Reader, resolve
from automate.serve_metrics import ServeMetrics, measured
from automate_connectors.registry import registry
from automate_connectors.schemas import validate_against
from automate_core.outbox.writer import OutboxWriter

__all__ = ["MAX_BODY", "create_app", "run_server"]

log = logging.getLogger("automate.serve")

MAX_BODY = 1024 * 1024
_TOLERANCE_S = 300  # the default and the most a connection may allow (its tolerance_s)
_MAX_WEBHOOK_ID = 200


def _answer(status: int, body: dict[str, Any]) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=status)


def create_app(settings: Settings, *, max_body: int = MAX_BODY) -> Any:
    """The ASGI application (Starlette)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    with_triggers = [key for key in registry.list_connectors() if registry.get_connector(key).triggers()]

    def endpoint(tenant: str, name: str, trigger: str) -> tuple[str, dict[str, Any]] | None:
        with pool(settings).connection() as conn:
            found = ConnectionStore(conn).get(tenant, name)
        if found is None or found[0] not in with_triggers:
            return None
        if trigger not in {t.name for t in registry.get_connector(found[0]).triggers()}:
            return None
        return found

    async def receive(request: Request) -> Any:
        import anyio.to_thread

        tenant, name, trigger = (request.path_params[k] for k in ("tenant", "connection", "trigger"))
        headers = dict(request.headers)
        unsigned = _unsigned(headers, _TOLERANCE_S)
        if unsigned is not None:
            return unsigned
        try:
            declared = int(headers.get("content-length") or 0)
        except ValueError:
            return _answer(400, {"error": "bad_content_length"})
        if declared > max_body:
            return _answer(413, {"error": "body_too_large", "limit": max_body})
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return _answer(413, {"error": "body_too_large", "limit": max_body})
        found = await anyio.to_thread.run_sync(endpoint, tenant, name, trigger)
        if found is None:  # answered as a bad signature: no endpoint verifies it
            log.info("webhook for no endpoint", extra={"action": "serve.no_endpoint", "tenant": tenant[:64],
                                                       "connection": name[:64]})
            return _answer(401, {"error": "bad_signature"})
        return await anyio.to_thread.run_sync(_deliver, settings, tenant, name, trigger, found, body, headers)

    routes = [Route("/hooks/{tenant}/{connection}/{trigger}", receive, methods=["POST"]),
              Route("/health", lambda _request: _answer(200, {"status": "ok"}), methods=["GET"])]
    return Starlette(routes=routes)


def _unsigned(headers: dict[str, str], tolerance_s: int) -> Any:
    """The 401 for a delivery without the signature headers or with a timestamp outside the window, or
    None."""
    webhook_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    if not (webhook_id and stamp and headers.get("webhook-signature")) or len(webhook_id) > _MAX_WEBHOOK_ID:
        return _answer(401, {"error": "unsigned"})
    try:
        age = abs(time.time() - int(stamp))
    except ValueError:
        return _answer(401, {"error": "bad_timestamp"})
    if age > tolerance_s:
        return _answer(401, {"error": "stale_timestamp"})
    return None


def _deliver(settings: Settings, tenant: str, name: str, trigger: str, found: tuple[str, dict[str, Any]],
             body: bytes, headers: dict[str, str]) -> Any:
    """Verify one delivery and emit its event (in a thread: the database and the signature)."""
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    from automate.events import emit_event

    connector_key, config = found
    webhook_id = headers["webhook-id"]
    if _unsigned(headers, min(int(config.get("tolerance_s", _TOLERANCE_S)), _TOLERANCE_S)) is not None:
        # inside the window every endpoint allows, outside this connection's: answered as a bad
        # signature, as an unknown endpoint would be
        return _answer(401, {"error": "bad_signature"})
    try:
        secret = resolve(str(config.get("secret", "")), tenant=tenant, settings=settings,
                         reader=Reader(connector=connector_key))
        verifier = Webhook(secret)
    except Exception as exc:  # the connection's secret cannot be read or is no whsec_ key: our fault
        log.error("webhook secret unavailable", extra={
            "action": "serve.secret_error", "tenant": tenant, "connection": name,
            "code": exc.code if isinstance(exc, AutomateError) else type(exc).__name__})
        return _answer(503, {"error": "unavailable"})
    try:
        verifier.verify(body, {k: v for k, v in headers.items() if k.startswith("webhook-")},
                        json_parse=False)
    except WebhookVerificationError:
        return _answer(401, {"error": "bad_signature"})
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return _answer(400, {"error": "not_json"})
    if not isinstance(payload, dict):
        return _answer(400, {"error": "not_an_object"})
    spec = next(t for t in registry.get_connector(connector_key).triggers() if t.name == trigger)
    try:
        validate_against(spec.payload_schema, payload, what=f"{trigger} delivery",
                         code=ErrorCodes.INPUT_INVALID)
    except AutomateError as exc:
        return _answer(422, {"error": "schema", "detail": exc.message})
    dedupe_key = f"webhook:{name}:{webhook_id}"
    event_type = str(config.get("event_type") or f"webhook.{name}")
    try:
        with pool(settings).connection() as conn:
            earlier = OutboxWriter(conn.cursor()).deduped(tenant, dedupe_key)
            event_id = earlier or emit_event(event_type, payload, dedupe_key, tenant=tenant, connection=conn,
                                             settings=settings)
            conn.commit()
    except AutomateError as exc:  # the event was refused (too large, bad type, contract): the sender's
        return _answer(422, {"error": str(exc.code)})
    log.info("webhook received", extra={"action": "serve.received", "tenant": tenant, "connection": name,
                                        "event_id": event_id, "duplicate": earlier is not None})
    return _answer(200, {"event_id": event_id, "duplicate": earlier is not None})


def run_server(settings: Settings, host: str, port: int, *, max_body: int = MAX_BODY,
               metrics_port: int = 0) -> None:
    import uvicorn

    from automate.metrics import serve_metrics

    tracing.configure("automate-serve")
    metrics = ServeMetrics()
    bound = serve_metrics(settings, "automate-serve", metrics_port, registry=metrics.registry)
    log.info("serve started", extra={"action": "serve.started", "port": port, "metrics_port": bound})
    uvicorn.run(measured(create_app(settings, max_body=max_body), metrics), host=host, port=port,
                log_level="warning", access_log=False, server_header=False)
