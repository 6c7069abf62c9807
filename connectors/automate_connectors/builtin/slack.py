"""``slack``: messages through Slack's Web API (``chat.postMessage``) and incoming webhooks, with the
slack_sdk client library.

Connection: ``{"token": "$secret:SLACK_BOT_TOKEN"}`` for ``send_message``, ``{"webhook_url":
"$secret:SLACK_WEBHOOK"}`` for ``post_webhook`` (both may be set); ``base_url`` points the Web API
elsewhere (a proxy, a test peer). Both actions spend from the ``chat`` rate limit (about one message a
second, shared by every worker).

Errors: Slack's ``error`` strings map to the connector codes (``invalid_auth`` → ``auth_failed``,
``missing_scope`` → ``forbidden``, ``channel_not_found`` → ``not_found``, HTTP 429 → ``rate_limited`` with
its ``Retry-After``, 5xx → ``upstream_5xx``, any other → ``input.invalid``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from automate.errors import AutomateError, ErrorCodes
from automate_connectors.base import ActionSpec, Connector, RateLimit
from automate_connectors.errors import connector_error, from_http_status, normalize

__all__ = ["SlackConnector"]

_AUTH = {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired"}
_FORBIDDEN = {"missing_scope", "not_allowed_token_type", "restricted_action", "no_permission",
              "ekm_access_denied", "is_archived", "not_in_channel"}
_NOT_FOUND = {"channel_not_found", "user_not_found", "thread_not_found", "no_service", "no_team"}
_MESSAGE = {"text": {"type": "string", "maxLength": 40000}, "blocks": {"type": "array"},
            "unfurl_links": {"type": "boolean"}}


class SlackConnector(Connector):
    key = "slack"
    display_name = "Slack"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "token": {"type": "string", "x-secret": True, "description": "A bot token (xoxb-...)."},
            "webhook_url": {"type": "string", "x-secret": True, "description": "An incoming webhook URL."},
            "base_url": {"type": "string", "description": "The Web API's base URL."},
        },
        "additionalProperties": False,
        "minProperties": 1,
    }
    rate_limits: ClassVar[Mapping[str, RateLimit]] = {"chat": RateLimit(per_second=1.0, burst=3)}

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [
            ActionSpec(name="send_message", rate_limit="chat", description="chat.postMessage",
                       input_schema={"type": "object", "required": ["channel"], "additionalProperties": False,
                                     "properties": {"channel": {"type": "string", "minLength": 1},
                                                    "thread_ts": {"type": "string"}, **_MESSAGE},
                                     "anyOf": [{"required": ["text"]}, {"required": ["blocks"]}]},
                       output_schema={"type": "object", "properties": {"channel": {"type": "string"},
                                                                       "ts": {"type": "string"}}}),
            ActionSpec(name="post_webhook", rate_limit="chat", description="An incoming webhook.",
                       input_schema={"type": "object", "additionalProperties": False, "properties": _MESSAGE,
                                     "anyOf": [{"required": ["text"]}, {"required": ["blocks"]}]},
                       output_schema={"type": "object", "properties": {"status": {"type": "integer"}}}),
        ]

    def execute_action(self, action: str, input_data: dict[str, Any]) -> dict[str, Any]:
        if action == "send_message":
            return self._send_message(input_data)
        if action == "post_webhook":
            return self._post_webhook(input_data)
        raise connector_error(ErrorCodes.INTERNAL, f"slack has no action {action!r}")

    def _send_message(self, data: dict[str, Any]) -> dict[str, Any]:
        from slack_sdk import WebClient

        if not self.config.get("token"):
            raise connector_error(ErrorCodes.CONFIG_INVALID,
                                  "slack.send_message needs the connection's token")
        client = WebClient(token=str(self.config["token"]),
                           base_url=str(self.config.get("base_url") or "https://slack.com/api/"), timeout=30)
        answer = client.chat_postMessage(**data)
        return {"channel": answer.get("channel"), "ts": answer.get("ts")}

    def _post_webhook(self, data: dict[str, Any]) -> dict[str, Any]:
        from slack_sdk.webhook import WebhookClient

        if not self.config.get("webhook_url"):
            raise connector_error(ErrorCodes.CONFIG_INVALID,
                                  "slack.post_webhook needs the connection's webhook_url")
        answer = WebhookClient(str(self.config["webhook_url"]), timeout=30).send(**data)
        if answer.status_code != 200:
            retry_after = _seconds(answer.headers.get("retry-after") if answer.headers else None)
            status = answer.status_code
            raise from_http_status(status, f"slack incoming webhook answered {status}",
                                   retry_after=retry_after)
        return {"status": answer.status_code}

    def normalize_error(self, exc: Exception) -> Exception:
        from slack_sdk.errors import SlackApiError

        if not isinstance(exc, SlackApiError):
            return normalize(exc)
        response = exc.response
        status = int(getattr(response, "status_code", 200) or 200)
        error = str((response.data or {}).get("error", "")) if isinstance(response.data, dict) else ""
        message = f"slack answered {error or f'HTTP {status}'}"
        headers = getattr(response, "headers", None) or {}
        if status == 429 or error == "ratelimited":
            retry_after = _seconds(headers.get("retry-after") or headers.get("Retry-After"))
            return connector_error(ErrorCodes.RATE_LIMITED, message, retry_after=retry_after)
        code = (ErrorCodes.AUTH_FAILED if error in _AUTH else ErrorCodes.FORBIDDEN if error in _FORBIDDEN
                else ErrorCodes.NOT_FOUND if error in _NOT_FOUND else None)
        if code is not None:
            return connector_error(code, message)
        if status >= 400:
            error_for_status: AutomateError = from_http_status(status, message)
            return error_for_status
        return connector_error(ErrorCodes.INPUT_INVALID, message)


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
