"""Which connectors exist: the built-in ones, those registered in code, and those other packages
install under the entry-point group ``automate.connectors`` (``name = "package.module:ConnectorClass"``).

    from automate_connectors.registry import registry

    connector_cls = registry.get_connector("slack")
    connector = connector_cls(config={...}, ctx=context)
"""

from __future__ import annotations

import logging
import threading
from importlib.metadata import entry_points

from automate.errors import ConnectorError, ErrorCodes, UsageError
from automate_connectors.base import ActionSpec, Connector
from automate_connectors.schemas import check_schema

__all__ = ["ENTRY_POINT_GROUP", "ConnectorRegistry", "registry"]

ENTRY_POINT_GROUP = "automate.connectors"

log = logging.getLogger("automate.connectors")


class ConnectorRegistry:
    """Connector keys to connector classes. The built-ins are registered on first use, then the entry
    points of installed packages (a broken one is logged and skipped, never fatal)."""

    def __init__(self, *, builtins: bool = True, entry_point_group: str | None = ENTRY_POINT_GROUP) -> None:
        self._connectors: dict[str, type[Connector]] = {}
        self._builtins = builtins
        self._group = entry_point_group
        self._loaded = False
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            if self._builtins:
                from automate_connectors.builtin import BUILTIN

                for cls in BUILTIN:
                    self._connectors.setdefault(cls.key, cls)
            if self._group:
                for entry in entry_points(group=self._group):
                    try:
                        loaded = entry.load()
                        self._add(entry.name, loaded, replace=False)
                    except Exception as exc:  # one bad plugin must not take the others down
                        log.error("connector entry point skipped", extra={
                            "action": "connectors.entry_point_failed", "entry_point": entry.name,
                            "error": f"{type(exc).__name__}: {exc}"[:300]})
            self._loaded = True

    def _add(self, key: str, connector: type[Connector], *, replace: bool) -> None:
        if not (isinstance(connector, type) and issubclass(connector, Connector)):
            raise UsageError(f"{key!r}: a connector is a subclass of automate_connectors.Connector")
        if not key or not key.replace("_", "").isalnum() or key != key.lower():
            raise UsageError(f"{key!r} is not a connector key: lowercase letters, digits and '_'")
        if connector.key != key:  # steps, connections and rate limits name it by its class's key
            raise UsageError(f"{connector.__name__}.key is {connector.key!r}; register it as that key")
        if not replace and key in self._connectors and self._connectors[key] is not connector:
            raise UsageError(f"connector {key!r} is already registered")
        check_schema(connector.config_schema, f"{key}'s config_schema")
        for spec in connector.actions():
            check_schema(spec.input_schema, f"{key}.{spec.name}'s input_schema")
            if spec.rate_limit is not None and spec.rate_limit not in connector.rate_limits:
                raise UsageError(f"{key}.{spec.name} spends from rate limit {spec.rate_limit!r}, which "
                                 f"{connector.__name__}.rate_limits does not define")
            fields = spec.input_schema.get("properties", {})
            if spec.destination is not None and spec.destination not in fields:
                raise UsageError(f"{key}.{spec.name}'s destination {spec.destination!r} is no input field")
        self._connectors[key] = connector

    def register(self, key: str, connector: type[Connector], *, replace: bool = False) -> type[Connector]:
        """Make ``connector`` available as ``key``; returns it.

        Raises:
            UsageError: Not a Connector subclass, a bad key, a taken key (unless ``replace``), or an
                invalid schema.
        """
        self._load()
        with self._lock:
            self._add(key, connector, replace=replace)
        return connector

    def get_connector(self, key: str) -> type[Connector]:
        """The connector class registered as ``key``.

        Raises:
            ConnectorError: No such connector (``connector.unknown``).
        """
        self._load()
        found = self._connectors.get(key)
        if found is None:
            raise ConnectorError(f"unknown connector {key!r}; known: {', '.join(self.list_connectors())}",
                                 code=ErrorCodes.CONNECTOR_UNKNOWN)
        return found

    def list_connectors(self) -> list[str]:
        """Every registered key, sorted."""
        self._load()
        return sorted(self._connectors)

    def find_action(self, name: str) -> tuple[type[Connector], ActionSpec] | None:
        """The connector and action a step's ``<key>.<action>`` names, or None."""
        key, _, action = name.partition(".")
        self._load()
        connector = self._connectors.get(key)
        spec = connector.action(action) if connector is not None and action else None
        return (connector, spec) if connector is not None and spec is not None else None

    def action_names(self) -> set[str]:
        """``<key>.<action>`` of every action of every connector."""
        self._load()
        return {f"{key}.{spec.name}" for key, cls in self._connectors.items() for spec in cls.actions()}


registry = ConnectorRegistry()
