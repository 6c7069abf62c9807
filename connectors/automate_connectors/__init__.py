"""Connectors: what workflows act on. A connector declares its actions, triggers and rate limits
(:mod:`automate_connectors.base`); the registry finds it by key (:mod:`automate_connectors.registry`),
built-in or installed under the entry-point group ``automate.connectors``; a workflow step calls an action
as ``<connector>.<action>`` with a named connection holding its configuration and secret references.

    from automate_connectors import Connector, registry

    connector_cls = registry.get_connector("slack")
"""

from __future__ import annotations

from automate.errors import AutomateError, ErrorCodes
from automate_connectors.base import ActionSpec, Connector, RateLimit, TriggerSpec
from automate_connectors.context import ActionContext
from automate_connectors.registry import registry

__all__ = ["ActionContext", "ActionSpec", "AutomateError", "Connector", "ErrorCodes", "RateLimit",
           "TriggerSpec", "registry"]
