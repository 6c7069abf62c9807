"""The connector base class and what a connector declares: its actions, its triggers, its rate limits.

A connector is a class with a ``key`` (``slack``), the JSON schema of its configuration (what a named
connection holds: settings and secret references), the actions it offers (:class:`ActionSpec`: input and
output schemas, whether it is idempotent, its rate-limit class) and the triggers it can receive
(:class:`TriggerSpec`). The runtime makes it with the connection's configuration, its secret references
resolved, and the step's context, validates the input, waits for the shared rate limit, and calls
:meth:`Connector.aexecute_action` (which runs the seed's synchronous :meth:`Connector.execute_action` in a
thread unless the connector overrides it). Whatever the call raises goes through
:meth:`Connector.normalize_error` into the project's error tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from automate.errors import AutomateError, ErrorCodes, UsageError
from automate_connectors.context import ActionContext
from automate_connectors.errors import normalize

__all__ = ["ActionSpec", "AutomateError", "Connector", "ErrorCodes", "RateLimit", "TriggerSpec"]

_OBJECT: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionSpec:
    """One action of a connector (a workflow step names it ``<connector key>.<name>``).

    Attributes:
        input_schema: The JSON schema the step's rendered input must match (checked before the call).
        output_schema: What the action returns (documentation, and checked in the connector's tests).
        idempotent: Whether calling it twice has the effect of once; an idempotent action receives the
            step's idempotency key (``ctx.idempotency_key``) and passes it on to the service.
        rate_limit: The connector's rate-limit class this action spends from, if any.
        static_fields: Input fields that must be written out in the workflow, never templated (e.g. a SQL
            statement: its values go in as parameters).
        destination: The input field that says where the call goes (a URL); when the input holds secret
            references, it must be written out up to its host (:mod:`automate_connectors.placement`).

    Input fields whose schema says ``"x-secret": true`` may hold ``$secret:`` references; no other may.
    """

    name: str
    input_schema: Mapping[str, Any] = field(default_factory=lambda: dict(_OBJECT))
    output_schema: Mapping[str, Any] = field(default_factory=lambda: dict(_OBJECT))
    idempotent: bool = False
    rate_limit: str | None = None
    static_fields: tuple[str, ...] = ()
    destination: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerSpec:
    """An inbound trigger of a connector: ``automate serve`` gives each connection of the connector an
    endpoint, checks every delivery (``verification``), and emits the body as an event of ``event_type``.

    Attributes:
        payload_schema: The JSON schema a delivery's body must match.
        verification: ``standard-webhooks`` (HMAC-SHA256 over id, timestamp and body, with a timestamp
            window and dedupe on the webhook id).
    """

    name: str
    payload_schema: Mapping[str, Any] = field(default_factory=lambda: dict(_OBJECT))
    verification: Literal["standard-webhooks"] = "standard-webhooks"
    description: str = ""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``per_second`` calls a second on average, ``burst`` at once, shared by every runtime worker
    (per tenant and connection)."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and self.burst >= 1):
            raise UsageError(f"a rate limit must allow calls: per_second > 0 and burst >= 1, not "
                             f"{self.per_second!r} and {self.burst!r}")


class Connector:
    """Base of every connector. Subclasses set ``key`` and ``display_name`` and override
    :meth:`actions` and :meth:`execute_action` (or :meth:`aexecute_action`).

    Args:
        config: The connection's configuration, its secret references resolved (never logged, never kept).
        ctx: The step it is called for; None outside a step (a connector's own tests, a tool).
    """

    key: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    config_schema: ClassVar[Mapping[str, Any]] = _OBJECT
    rate_limits: ClassVar[Mapping[str, RateLimit]] = {}

    def __init__(self, config: Mapping[str, Any] | None = None, ctx: ActionContext | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self.ctx = ctx

    @classmethod
    def actions(cls) -> list[ActionSpec]:
        """The actions this connector offers."""
        return []

    @classmethod
    def triggers(cls) -> list[TriggerSpec]:
        """The inbound triggers it can receive."""
        return []

    @classmethod
    def action(cls, name: str) -> ActionSpec | None:
        return next((spec for spec in cls.actions() if spec.name == name), None)

    @classmethod
    def requires_connection(cls) -> bool:
        """Whether a step must name a connection (its configuration has required fields)."""
        return bool(cls.config_schema.get("required")) or int(cls.config_schema.get("minProperties", 0)) > 0

    def execute_action(self, action: str, input_data: dict[str, Any]) -> dict[str, Any]:
        """Run ``action`` synchronously; returns its output (a JSON object)."""
        raise AutomateError(ErrorCodes.ACTION_UNKNOWN, f"{self.key} has no action {action!r}")

    async def aexecute_action(self, action: str, input_data: dict[str, Any]) -> dict[str, Any]:
        """Run ``action``; by default :meth:`execute_action` in a thread (override for an async client)."""
        return await asyncio.to_thread(self.execute_action, action, input_data)

    def normalize_error(self, exc: Exception) -> Exception:
        """The project's error for what the call raised (see :mod:`automate_connectors.errors`)."""
        return normalize(exc)

    async def aclose(self) -> None:
        """Release what the connector holds (clients, connections); called after every call."""
