"""Named SQL queries, kept in ``.sql`` files beside this module and loaded once.

A file holds blocks that start with a ``-- name: <query_name>`` line.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

__all__ = ["query"]

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.M)


@functools.cache
def _load(group: str) -> dict[str, str]:
    text = resources.files(__name__).joinpath(f"{group}.sql").read_text(encoding="utf-8")
    parts = _HEADER.split(text)
    return {name: sql.strip() for name, sql in zip(parts[1::2], parts[2::2], strict=True)}


def query(group: str, name: str) -> str:
    """The SQL of query ``name`` in ``<group>.sql``; KeyError when there is no such query."""
    return _load(group)[name]
