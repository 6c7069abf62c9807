"""``webhook``: outgoing webhooks signed per the Standard Webhooks scheme (standardwebhooks library), and
the inbound trigger ``automate serve`` checks the same way.

A delivery is a POST of a JSON body with ``webhook-id`` (the step's idempotency key: the same on every
attempt, so the receiver applies a retried delivery once), ``webhook-timestamp`` (epoch seconds) and
``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body`` under the
connection's secret, a ``whsec_`` key). It goes out through the ``http`` connector's guarded client (SSRF
guard, redirects, timeouts and its error codes).

Connection: ``{"secret": "$secret:WHSEC", "url": "https://..."}``. The url is the connection's, never a
step's: a signed delivery is a credential of sorts (its receiver trusts it for the tolerance window), so
no event may send one elsewhere. Action ``webhook.send``: ``{"payload": {...}, "event_type"?: str,
"headers"?: {...}}``, returns ``{"status": int, "webhook_id": str}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from automate.errors import ErrorCodes
from automate_connectors.base import ActionSpec, Connector, TriggerSpec
from automate_connectors.builtin.http import HttpRequest
from automate_connectors.errors import connector_error

__all__ = ["WebhookConnector", "sign"]


def sign(secret: str, webhook_id: str, timestamp: datetime, body: bytes) -> str:
    """The ``webhook-signature`` header of a delivery (Standard Webhooks, ``v1``)."""
    from standardwebhooks import Webhook

    return Webhook(secret).sign(webhook_id, timestamp, body)


class WebhookConnector(Connector):
    key = "webhook"
    display_name = "Webhook (Standard Webhooks)"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "secret": {"type": "string", "x-secret": True,
                       "description": "The signing key (whsec_...), as a secret reference."},
            "url": {"type": "string", "description": "Where deliveries go (an outgoing connection)."},
            "event_type": {"type": "string", "description": "The event type an inbound delivery becomes."},
            "tolerance_s": {"type": "integer", "minimum": 1, "maximum": 3600,
                            "description": "How far an inbound delivery's timestamp may be from now "
                                           "(`automate serve` allows 300 at most)."},
        },
        "required": ["secret"],
        "additionalProperties": False,
    }

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [ActionSpec(
            name="send", idempotent=True, description="POST a signed JSON delivery.",
            input_schema={"type": "object", "required": ["payload"], "additionalProperties": False,
                          "properties": {"payload": {"type": "object"}, "event_type": {"type": "string"},
                                         "headers": {"type": "object",
                                                     "additionalProperties": {"type": "string"}}}},
            output_schema={"type": "object", "properties": {"status": {"type": "integer"},
                                                            "webhook_id": {"type": "string"}}})]

    @classmethod
    def triggers(cls) -> list[TriggerSpec]:
        return [TriggerSpec(name="received", verification="standard-webhooks",
                            description="A signed delivery to `automate serve`, emitted as an event.")]

    async def aexecute_action(self, action: str, input_data: dict[str, Any]) -> dict[str, Any]:
        if action != "send" or self.ctx is None:
            raise connector_error(ErrorCodes.INTERNAL, f"webhook has no action {action!r} outside a step")
        url = self.config.get("url")
        if not url:
            raise connector_error(ErrorCodes.CONFIG_INVALID, "webhook.send: the connection has no url")
        body = json.dumps(input_data["payload"], separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()
        webhook_id = f"msg_{self.ctx.idempotency_key}"
        now = datetime.now(UTC)
        try:
            signature = sign(str(self.config["secret"]), webhook_id, now, body)
        except Exception:  # a malformed key: its text is never repeated
            raise connector_error(ErrorCodes.CONFIG_INVALID, "webhook: the signing secret is not a whsec_ "
                                  "key (base64)") from None
        headers = {**input_data.get("headers", {}), "content-type": "application/json",
                   "webhook-id": webhook_id, "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": signature}
        if input_data.get("event_type"):
            headers["webhook-event-type"] = str(input_data["event_type"])
        answer = await HttpRequest().run({"method": "POST", "url": url, "headers": headers,
                                          "body": body.decode()}, self.ctx)
        return {"status": answer["status"], "webhook_id": webhook_id}
