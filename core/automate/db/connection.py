"""Connections to the state database."""

from __future__ import annotations

from typing import Any

import psycopg

from automate.config import Settings

__all__ = ["connect"]


def connect(settings: Settings, *, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a connection to the state database named by ``settings.dsn``."""
    kwargs.setdefault("connect_timeout", 10)
    kwargs.setdefault("application_name", "automate")
    return psycopg.connect(settings.dsn, autocommit=autocommit, **kwargs)
