"""Durations as people write them in workflow files ("500ms", "30s", "10m", "1h", "1d"), as seconds.

Workflow files say ``timeout: 30s`` and ``retry: {initial: 1s, max: 10m}``; the runtime works in float
seconds. A plain number (``30``, ``0.5`` or the string ``"30"``) is already seconds.
"""

from __future__ import annotations

import math
import re
from typing import Final

from automate.errors import UsageError

__all__ = ["UNITS", "format_duration", "parse_duration"]

UNITS: Final[dict[str, float]] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_DURATION: Final = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?\s*")


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``value``: a number of seconds, or a string such as ``"500ms"``, ``"30s"``, ``"1.5h"``.

    Raises:
        ValueError: The value is negative, not finite, a boolean, or a string in no known form; the
            message quotes it and lists the accepted units.
    """
    if isinstance(value, bool):  # bool is an int: "timeout: yes" must not mean one second
        raise UsageError(f"{value!r} is not a duration; write e.g. 30s, 500ms, 10m, 1h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match is None:
            raise UsageError(
                f"{value!r} is not a duration; write a number with a unit (ms, s, m, h, d), e.g. 30s or 500ms"
            )
        number, unit = match.groups()
        seconds = float(number) * UNITS[unit or "s"]
    else:
        raise UsageError(f"a {type(value).__name__} is not a duration; write e.g. 30s, 500ms, 10m")
    if not math.isfinite(seconds):
        raise UsageError(f"{value!r} is not a finite duration")
    if seconds < 0:
        raise UsageError(f"{value!r} is negative; a duration is at least 0 seconds")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of ``seconds`` in the largest fitting unit (``600.0`` -> ``"10m"``)."""
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m", "s", "ms"):
        count = round(seconds / UNITS[unit], 9)  # 3436.615 s is 3436615 ms despite binary floats
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{seconds!r}s"
