"""What Postgres ``jsonb`` cannot store, found before it is sent there: a NUL character (``\\u0000``) and a
lone UTF-16 surrogate (``\\ud800`` without its pair), in a string or a key (JSON text may carry either as an
escape, and Python reads both into a ``str``), and a number that is not finite (``NaN`` and ``Infinity``,
which Python reads and writes, and ``1e400``, which it reads as an infinity). Postgres refuses the whole
value. The processors refuse such an event, the runtime such a context or step output, each with a typed
code, before any write."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["unstorable", "unstorable_text"]

# \u0000 in JSON text, not an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def unstorable(value: Any) -> str | None:
    """Why ``value`` (decoded JSON) cannot be stored as ``jsonb``, or None when it can."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                return problem
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "holds a number that is not finite (NaN or an infinity)"
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def unstorable_text(text: str) -> str | None:
    """Why the JSON document ``text`` cannot be stored as ``jsonb``, or None when it can. Cheap for the
    usual text: it is parsed only when it holds a surrogate escape (which may be a valid pair), ``NaN`` or
    ``Infinity``. (``1e400`` is storable text; :func:`unstorable` finds it once read.)"""
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return "holds a lone surrogate"
    if "NaN" in text or "Infinity" in text:  # as a value, not in a string: only parsing tells
        try:
            return unstorable(json.loads(text))
        except (ValueError, RecursionError):
            return "is not JSON"
    if "\\u" not in text:
        return None
    if _NUL_ESCAPE.search(text):
        return "holds a NUL character (\\u0000)"
    if _SURROGATE_ESCAPE.search(text):
        try:
            return unstorable(json.loads(text))
        except (ValueError, RecursionError):
            return "is not JSON"
    return None


def _text_problem(s: str) -> str | None:
    if "\x00" in s:
        return "holds a NUL character (\\u0000)"
    if not s.isascii():
        try:
            s.encode()
        except UnicodeEncodeError:
            return "holds a lone surrogate"
    return None
