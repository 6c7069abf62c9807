"""Calling a connector's action the way a workflow step does: through the runtime's action registry, with
a named connection and secrets from the real store."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

from automate.config import Settings
from automate.errors import StepError
from automate.runtime.actions import registry
from automate_connectors.connections import set_connection
from automate_connectors.context import ActionContext

__all__ = ["TENANT", "call", "connection", "failure", "make_ctx"]

TENANT = "acme"


def make_ctx(settings: Settings, *, connection: str | None = None, automation: str = "orders",
             attempt: int = 1, execution_id: str | None = None) -> ActionContext:
    ident = execution_id or str(uuid.uuid4())
    return ActionContext(execution_id=ident, step_id="act", attempt=attempt, idempotency_key=f"{ident}:act",
                         tenant=TENANT, settings=settings, automation=automation, connection=connection,
                         log=logging.LoggerAdapter(logging.getLogger("tests.connectors"), {}))


def call(settings: Settings, action: str, data: dict[str, Any], **ctx: Any) -> dict[str, Any]:
    result: dict[str, Any] = asyncio.run(registry.require(action).run(data, make_ctx(settings, **ctx)))
    return result


def failure(settings: Settings, action: str, data: dict[str, Any], **ctx: Any) -> StepError:
    with pytest.raises(StepError) as failed:
        call(settings, action, data, **ctx)
    return failed.value



def connection(settings: Settings, name: str, connector: str, config: dict[str, Any]) -> None:
    set_connection(settings, name, connector, config, tenant=TENANT)
