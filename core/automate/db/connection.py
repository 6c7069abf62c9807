"""Connections to the state database."""

from __future__ import annotations

from typing import Any

import psycopg

from automate.config import Settings

__all__ = ["connect", "dsn_of_database"]


def connect(settings: Settings, *, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a connection to the state database named by ``settings.dsn``."""
    kwargs.setdefault("connect_timeout", 10)
    kwargs.setdefault("application_name", "automate")
    return psycopg.connect(settings.dsn, autocommit=autocommit, **kwargs)


def dsn_of_database(settings: Settings, dbname: str) -> str:
    """The libpq URL of database ``dbname`` on the server of ``settings``, as the same user."""
    info = psycopg.conninfo.conninfo_to_dict(settings.dsn)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo("", **info)
