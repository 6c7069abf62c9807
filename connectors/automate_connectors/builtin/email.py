"""``email``: sending mail over SMTP with the standard library's client (STARTTLS and AUTH).

Connection: ``{"host": "smtp.example.com", "port": 587, "username": "...", "password": "$secret:SMTP",
"from_address": "shop@example.com", "starttls": true, "ca_file": "/path/ca.pem"}``. With ``starttls``
(the default) the session is upgraded before any credential is sent, and the server's certificate is
checked (against ``ca_file`` when given, else the system's CAs); a server that does not offer STARTTLS is
refused rather than sent a password in the clear.

Action ``email.send``: ``{"to": [...], "subject": "...", "text"?: "...", "html"?: "...", "cc"?: [...],
"reply_to"?: "..."}``; returns ``{"message_id", "accepted"}``. The Message-ID is made from the step's
idempotency key, the same on every attempt, so a mail system can tell a retried message.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, ClassVar

from automate.errors import ErrorCodes
from automate_connectors.base import ActionSpec, Connector, RateLimit
from automate_connectors.errors import connector_error, normalize

__all__ = ["EmailConnector"]

_ADDRESSES = {"oneOf": [{"type": "string", "minLength": 3},
                        {"type": "array", "items": {"type": "string", "minLength": 3}, "minItems": 1}]}


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


class EmailConnector(Connector):
    key = "email"
    display_name = "Email (SMTP)"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "host": {"type": "string", "minLength": 1},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "username": {"type": "string"},
            "password": {"type": "string", "x-secret": True},
            "from_address": {"type": "string", "minLength": 3},
            "starttls": {"type": "boolean"},
            "ca_file": {"type": "string"},
            "timeout_s": {"type": "number", "exclusiveMinimum": 0},
        },
        "required": ["host", "from_address"],
        "additionalProperties": False,
    }
    rate_limits: ClassVar[Mapping[str, RateLimit]] = {"send": RateLimit(per_second=50.0, burst=10)}

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        return [ActionSpec(
            name="send", rate_limit="send", description="Send one message.",
            input_schema={"type": "object", "required": ["to", "subject"], "additionalProperties": False,
                          "properties": {"to": _ADDRESSES, "cc": _ADDRESSES, "subject": {"type": "string"},
                                         "text": {"type": "string"}, "html": {"type": "string"},
                                         "reply_to": {"type": "string"}},
                          "anyOf": [{"required": ["text"]}, {"required": ["html"]}]},
            output_schema={"type": "object", "properties": {"message_id": {"type": "string"},
                                                            "accepted": {"type": "array"}}})]

    def execute_action(self, action: str, input_data: dict[str, Any]) -> dict[str, Any]:
        if action != "send":
            raise connector_error(ErrorCodes.INTERNAL, f"email has no action {action!r}")
        message = self._message(input_data)
        recipients = _list(input_data["to"]) + _list(input_data.get("cc"))
        config = self.config
        timeout = float(config.get("timeout_s", 30))
        with smtplib.SMTP(str(config["host"]), int(config.get("port", 587)), timeout=timeout) as smtp:
            smtp.ehlo()
            if config.get("starttls", True):
                if not smtp.has_extn("starttls"):
                    raise connector_error(ErrorCodes.CONFIG_INVALID,
                                          f"{config['host']} does not offer STARTTLS; refusing to send "
                                          "credentials in the clear (starttls: false to allow)")
                tls = ssl.create_default_context(cafile=config.get("ca_file"))
                smtp.starttls(context=tls)
                smtp.ehlo()
            if config.get("username"):
                smtp.login(str(config["username"]), str(config.get("password", "")))
            refused = smtp.send_message(message, to_addrs=recipients)
        accepted = [r for r in recipients if r not in refused]
        return {"message_id": message["Message-ID"], "accepted": accepted}

    def _message(self, data: dict[str, Any]) -> EmailMessage:
        message = EmailMessage()
        message["From"] = str(self.config["from_address"])
        message["To"] = ", ".join(_list(data["to"]))
        if data.get("cc"):
            message["Cc"] = ", ".join(_list(data["cc"]))
        if data.get("reply_to"):
            message["Reply-To"] = str(data["reply_to"])
        message["Subject"] = str(data["subject"])
        key = self.ctx.idempotency_key if self.ctx is not None else None
        domain = str(self.config["from_address"]).rpartition("@")[2] or "automate"
        message["Message-ID"] = f"<{key.replace(':', '.')}@{domain}>" if key else None
        if data.get("text") is not None:
            message.set_content(str(data["text"]))
        if data.get("html") is not None:
            if data.get("text") is not None:
                message.add_alternative(str(data["html"]), subtype="html")
            else:
                message.set_content(str(data["html"]), subtype="html")
        return message

    def normalize_error(self, exc: Exception) -> Exception:
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return connector_error(ErrorCodes.AUTH_FAILED,
                                   f"the SMTP server refused the login ({exc.smtp_code})")
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            return connector_error(ErrorCodes.INPUT_INVALID, f"every recipient was refused "
                                   f"({len(exc.recipients)} of them)")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return connector_error(ErrorCodes.CONFIG_INVALID, "the SMTP server does not support what the "
                                   "connection asks (AUTH?)")
        if isinstance(exc, smtplib.SMTPResponseException):
            transient = 400 <= exc.smtp_code < 500
            return connector_error(ErrorCodes.UPSTREAM_5XX if transient else ErrorCodes.INPUT_INVALID,
                                   f"the SMTP server answered {exc.smtp_code}")
        if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
            return connector_error(ErrorCodes.NETWORK, f"SMTP connection lost ({type(exc).__name__})")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return connector_error(ErrorCodes.CONFIG_INVALID, "the SMTP server's certificate is not trusted "
                                   "(set ca_file?)")
        return normalize(exc)
