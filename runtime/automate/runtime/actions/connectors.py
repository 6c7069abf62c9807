"""Connector actions as steps: ``action: slack.send_message`` with ``connection: team-slack``.

For one call: the connection's configuration is read, the secret references in it and in the rendered
input are resolved (the reader is the step's automation and the connector: a secret's scopes apply), the
configuration and input are checked against their schemas, the connector's shared rate limit is waited
for, and the connector is made and called. Whatever it raises is normalized into the error tree
(``Connector.normalize_error``) and becomes the step's error; its output and any error message are
scrubbed of the secret values it received before the runtime keeps them. Anything else it raises becomes
``internal``, named by its type only (a library's message may quote a credential). A failure of
Automate's own database (reading the connection, a secret, the rate limit) is not the step's: it
propagates, and the worker retries the message until the database is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import psycopg

from automate.errors import AutomateError, ConnectorError, ErrorCodes, SecretError, StepError
from automate.secrets import Reader, Redactor, references_in, resolve_in
from automate_connectors.base import ActionSpec, Connector
from automate_connectors.connections import check_credentials, get_connection
from automate_connectors.context import ActionContext
from automate_connectors.errors import as_step_error, normalize
from automate_connectors.placement import destination_faults, input_reference_faults
from automate_connectors.ratelimit import acquire, bucket_key
from automate_connectors.schemas import validate_against

__all__ = ["ConnectorAction"]

log = logging.getLogger("automate.connectors")


class ConnectorAction:
    """One action of one connector, as the runtime's :class:`~automate.runtime.actions.base.Action`."""

    pure = False

    def __init__(self, connector: type[Connector], spec: ActionSpec) -> None:
        self.connector = connector
        self.spec = spec
        self.name = f"{connector.key}.{spec.name}"
        self.idempotent = spec.idempotent

    async def run(self, input: Mapping[str, Any], ctx: ActionContext) -> dict[str, Any]:
        redactor = Redactor()
        try:
            config, data = await self._prepare(input, ctx, redactor)
            if self.spec.rate_limit is not None:
                limit = self.connector.rate_limits[self.spec.rate_limit]
                await acquire(ctx.settings, bucket_key(ctx.tenant, ctx.connection, self.connector.key,
                                                       self.spec.rate_limit), limit)
            output = await self._call(config, data, ctx)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise  # Automate's database is away: the worker retries the message
        except AutomateError as exc:
            step_error = as_step_error(exc)
            raise StepError(redactor.scrub(step_error.message), code=step_error.code,
                            retryable=step_error.retryable, retry_after=step_error.retry_after) from None
        except Exception as exc:  # a bug on the way to the call: its message may hold a value
            raise StepError(f"{type(exc).__name__} preparing {self.name}", code=ErrorCodes.INTERNAL) from None
        scrubbed: dict[str, Any] = redactor.scrub_value(output)
        return scrubbed

    async def _prepare(self, input: Mapping[str, Any], ctx: ActionContext,
                       redactor: Redactor) -> tuple[dict[str, Any], dict[str, Any]]:
        config: dict[str, Any] = {}
        if ctx.connection is not None:
            key, config = await asyncio.to_thread(get_connection, ctx.settings, ctx.tenant, ctx.connection)
            if key != self.connector.key:
                raise ConnectorError(f"connection {ctx.connection!r} is a {key} connection, not "
                                     f"{self.connector.key}", code=ErrorCodes.CONFIG_INVALID)
        elif self.connector.requires_connection():
            raise ConnectorError(f"{self.name} needs a connection (the step's `connection:`)",
                                 code=ErrorCodes.CONNECTION_UNKNOWN)
        check_credentials(self.connector, config)
        data = dict(input)
        misplaced = input_reference_faults(self.name, self.spec, data)
        if ctx.written_input is not None:  # also stored workflows that predate a check
            misplaced += destination_faults(self.name, self.spec, ctx.written_input)
        if misplaced:
            where, message = misplaced[0]
            raise ConnectorError(f"{self.name} input at {where}: {message}", code=ErrorCodes.INPUT_INVALID)
        if references_in(config) or references_in(data):
            reader = Reader(automation=ctx.automation, connector=self.connector.key)
            try:
                (config, data), _ = await asyncio.to_thread(
                    lambda: resolve_in([config, data], tenant=ctx.tenant, reader=reader,
                                       settings=ctx.settings, redactor=redactor))
            except SecretError as exc:  # a permanent failure unless the backend said it may come back
                raise StepError(exc.message, code=exc.code, retryable=exc.retryable) from None
        validate_against(self.connector.config_schema, config, what=f"{self.connector.key} connection",
                         code=ErrorCodes.CONFIG_INVALID)
        validate_against(self.spec.input_schema, data, what=f"{self.name} input",
                         code=ErrorCodes.INPUT_INVALID)
        return config, data

    async def _call(self, config: dict[str, Any], data: dict[str, Any], ctx: ActionContext) -> dict[str, Any]:
        connector: Connector | None = None
        try:
            connector = self.connector(config=config, ctx=ctx)
            output = await connector.aexecute_action(self.spec.name, data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise self._normalized(connector, exc) from None
        finally:
            if connector is not None:
                await self._close(connector)
        if not isinstance(output, dict):
            raise ConnectorError(f"{self.name} returned {type(output).__name__}, not a JSON object",
                                 code=ErrorCodes.OUTPUT_NOT_JSON)
        return output

    def _normalized(self, connector: Connector | None, exc: Exception) -> AutomateError:
        """The project's error for what a call raised, whatever the connector's own mapping does."""
        try:
            error = connector.normalize_error(exc) if connector is not None else exc
        except Exception:  # a broken mapping is the connector's bug, not a reason to leak the original
            error = exc
        return normalize(error)

    async def _close(self, connector: Connector) -> None:
        try:
            await connector.aclose()
        except Exception as exc:  # the call's outcome stands; the leak is logged (by type only)
            log.warning("connector did not close", extra={"action": "connectors.close_failed",
                                                         "connector": self.connector.key,
                                                         "error": type(exc).__name__})
