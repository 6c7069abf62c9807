"""The connectors that come with Automate, each through the real client library of its service."""

from __future__ import annotations

from automate_connectors.base import Connector
from automate_connectors.builtin.http import HttpConnector

__all__ = ["BUILTIN"]

BUILTIN: tuple[type[Connector], ...] = (HttpConnector,)
