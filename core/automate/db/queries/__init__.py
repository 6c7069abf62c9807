"""Named SQL queries, kept in ``.sql`` files beside this module and loaded once.

A file holds blocks that start with a ``-- name: <query_name>`` line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from importlib import resources

__all__ = ["array_literal", "query"]

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.M)


@functools.cache
def _load(group: str) -> dict[str, str]:
    text = resources.files(__name__).joinpath(f"{group}.sql").read_text(encoding="utf-8")
    parts = _HEADER.split(text)
    return {name: sql.strip() for name, sql in zip(parts[1::2], parts[2::2], strict=True)}


def query(group: str, name: str) -> str:
    """The SQL of query ``name`` in ``<group>.sql``; KeyError when there is no such query."""
    return _load(group)[name]


def array_literal(values: Iterable[str]) -> str:
    """``values`` as one Postgres array literal (``{"a","b"}``), for a ``%(x)s::uuid[]``-style parameter.

    One string instead of a list: psycopg dumps a list element by element in Python, which costs more than
    the query for the few hundred ids of a batch. (Used with unprepared statements, whose plans see the
    array's values: a prepared statement's generic plan of ``id = ANY(array)`` can scan a whole table.)
    """
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"
