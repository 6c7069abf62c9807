"""Named connections: a connector's configuration per tenant, its credentials as secret references.

A connection is checked when it is stored: the connector exists, the configuration matches the
connector's ``config_schema``, and every field the schema marks ``"x-secret": true`` holds a secret
reference (``$secret:KEY``...), never the credential itself. The references are resolved only inside a
connector call (:mod:`automate.runtime.actions.connectors`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from automate.config import Settings
from automate.db import connect
from automate.db.connections import ConnectionStore
from automate.db.context import pool
from automate.errors import ConnectorError, ErrorCodes, InvalidSecretReference, UsageError
from automate.secrets.references import parse_reference
from automate_connectors.base import Connector
from automate_connectors.registry import registry
from automate_connectors.schemas import validate_against

__all__ = ["check_config", "check_credentials", "delete_connection", "get_connection", "list_connections",
           "set_connection"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_config(connector: type[Connector], config: Mapping[str, Any]) -> None:
    """Raise ConnectorError (``config.invalid``) naming the first fault of a connection's configuration:
    one that breaks the schema, or a credential field that holds a value instead of a reference."""
    validate_against(connector.config_schema, dict(config), what=f"{connector.key} connection",
                     code=ErrorCodes.CONFIG_INVALID)
    check_credentials(connector, config)


def check_credentials(connector: type[Connector], config: Mapping[str, Any]) -> None:
    """Raise ConnectorError (``config.invalid``) when a field the schema marks ``x-secret`` holds a value
    instead of a secret reference."""
    properties = connector.config_schema.get("properties", {})
    for name, schema in properties.items():
        if isinstance(schema, Mapping) and schema.get("x-secret") and name in config:
            try:
                parse_reference(str(config[name]))
            except InvalidSecretReference:
                raise ConnectorError(f"{connector.key} connection at $.{name}: a credential must be a secret "
                                     "reference ($secret:KEY, $env:VAR, $vault:path#field, $aws:id), never "
                                     "the value itself", code=ErrorCodes.CONFIG_INVALID) from None


def set_connection(settings: Settings, name: str, connector: str, config: Mapping[str, Any], *,
                   tenant: str | None = None) -> None:
    """Store (or replace) connection ``name`` of ``tenant`` after checking it (see :func:`check_config`).

    Raises:
        UsageError: A bad name. ConnectorError: An unknown connector or a bad configuration.
    """
    if not _NAME.match(name):
        raise UsageError(f"{name!r} is not a connection name: lowercase letters, digits, '_', '-'")
    cls = registry.get_connector(connector)
    check_config(cls, config)
    with connect(settings) as conn:
        ConnectionStore(conn).put(tenant or settings.tenant, name, connector, dict(config))


def get_connection(settings: Settings, tenant: str, name: str) -> tuple[str, dict[str, Any]]:
    """(connector key, configuration with its references) of a connection.

    Raises:
        ConnectorError: No such connection (``connection.unknown``).
    """
    with pool(settings).connection() as conn:
        found = ConnectionStore(conn).get(tenant, name)
    if found is None:
        raise ConnectorError(f"tenant {tenant!r} has no connection {name!r} (`automate connections set`)",
                             code=ErrorCodes.CONNECTION_UNKNOWN)
    return found


def delete_connection(settings: Settings, name: str, *, tenant: str | None = None) -> bool:
    with connect(settings) as conn:
        return ConnectionStore(conn).delete(tenant or settings.tenant, name)


def list_connections(settings: Settings, *,
                     tenant: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, connector, configuration) of every connection of ``tenant`` (references, never values)."""
    with connect(settings) as conn:
        return [(name, connector, config) for name, connector, config, _at
                in ConnectionStore(conn).names(tenant or settings.tenant)]
