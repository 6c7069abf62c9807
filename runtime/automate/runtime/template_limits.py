"""What one render of step input templates may do, and the budget that holds it to that.

:class:`TemplateLimits` are the settings (``AUTOMATE_TEMPLATE_*``); a :class:`Render` is the budget of the
render running on a thread (:func:`rendering`, :func:`current`), which the sandbox
(:mod:`automate.runtime.sandbox`) charges as the template works. :func:`weigh` measures what a value
prints to without printing it.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from automate.errors import TemplateLimitError

if TYPE_CHECKING:
    from automate.config import Settings

__all__ = ["DEFAULT_LIMITS", "Render", "TemplateLimits", "current", "dumps", "rendering", "weigh"]

_CHARS_PER_STEP_SHIFT: Final = 4  # every 16 characters built cost one step
_TIME_CHECK_MASK: Final = 255  # the clock is read every 256 steps
_MAX_INDENT: Final = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateLimits:
    """What one render of a step's input may do (see the module's documentation)."""

    timeout: float = 2.0
    max_string: int = 1_000_000
    max_output: int = 1_000_000
    max_work: int = 1_000_000
    max_depth: int = 100
    max_int_digits: int = 1_000

    @classmethod
    def from_settings(cls, settings: Settings) -> TemplateLimits:
        """The limits of ``settings`` (``AUTOMATE_TEMPLATE_*``)."""
        return cls(timeout=settings.template_timeout_s, max_string=settings.template_max_string,
                   max_output=settings.template_max_output, max_work=settings.template_max_work,
                   max_depth=settings.template_max_depth, max_int_digits=settings.template_max_int_digits)

    @property
    def max_int_bits(self) -> int:
        return math.ceil(self.max_int_digits * math.log2(10))


DEFAULT_LIMITS: Final = TemplateLimits()


class Render:
    """The budget of one render (or one compilation: constant folding runs filters too)."""

    __slots__ = ("deadline", "depth", "left", "limits", "output_left")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.left = limits.max_work
        self.output_left = limits.max_output
        self.depth = 0
        self.deadline = time.monotonic() + limits.timeout

    def tick(self, steps: int = 1) -> None:
        before = self.left
        self.left = before - steps
        if self.left < 0:
            raise TemplateLimitError(f"the render went past its work limit of {self.limits.max_work} steps "
                                     "(loop items, calls, filters and characters built)", limit="work")
        if (before ^ self.left) > _TIME_CHECK_MASK or steps > _TIME_CHECK_MASK:
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"the render ran past its time limit of {self.limits.timeout}s",
                                     limit="time")

    def room(self, size: int, what: str = "a string") -> None:
        """Refuse building ``what`` of ``size`` characters or items; charge it when allowed."""
        if size > self.limits.max_string:
            raise TemplateLimitError(f"the template would build {what} of {size} characters or items, above "
                                     f"the limit of {self.limits.max_string}", limit="string")
        self.tick(1 + (size >> _CHARS_PER_STEP_SHIFT))

    def number(self, value: Any) -> Any:
        """Refuse an integer above ``max_int_digits``; other values pass."""
        if type(value) is int:
            self.bits(value.bit_length())
        return value

    def bits(self, bits: int) -> None:
        """Refuse making an integer of ``bits`` bits, when that is more than ``max_int_digits`` digits."""
        if bits > self.limits.max_int_bits:
            raise TemplateLimitError(f"the template would make a number of more than "
                                     f"{self.limits.max_int_digits} digits", limit="number")

    def output(self, size: int) -> None:
        self.output_left -= size
        if self.output_left < 0:
            raise TemplateLimitError(f"the rendered input is larger than the limit of "
                                     f"{self.limits.max_output} characters", limit="output")

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            self.depth -= 1
            raise TemplateLimitError(f"calls nest deeper than the limit of {self.limits.max_depth}",
                                     limit="depth")


class _Current(threading.local):
    render: Render | None = None


_CURRENT: Final = _Current()


def current() -> Render:
    """The budget of the render running on this thread (a fresh default one outside any render)."""
    return _CURRENT.render or Render(DEFAULT_LIMITS)


class rendering:
    """Run a render (or a compilation) on this thread under ``limits``."""

    def __init__(self, limits: TemplateLimits) -> None:
        self.render = Render(limits)
        self.outer: Render | None = None

    def __enter__(self) -> Render:
        self.outer, _CURRENT.render = _CURRENT.render, self.render
        return self.render

    def __exit__(self, *exc: object) -> None:
        _CURRENT.render = self.outer


def weigh(value: Any, render: Render, room: int, what: str, limit: str = "string") -> int:
    """The characters ``value`` takes printed as JSON (about), refusing past ``room`` characters or
    ``max_depth`` levels without going through more of it; an array holding one large string a million
    times weighs what it prints, not what it takes in memory."""
    size = 0
    max_depth = render.limits.max_depth
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending and size <= room:
        item, depth = pending.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, Mapping | list | tuple):
            if depth > max_depth:
                raise TemplateLimitError(f"{what} nests deeper than the limit of {max_depth}", limit="depth")
            size += 2 + 2 * len(item)
            if isinstance(item, Mapping):
                for key, child in item.items():
                    size += len(key) if isinstance(key, str) else 8
                    pending.append((child, depth + 1))
                    if size > room:
                        break
            else:
                for child in item:
                    pending.append((child, depth + 1))
                    if size > room:
                        break
        elif type(item) is int:
            size += 1 + item.bit_length() // 3
        else:
            size += 8
    if size > room:
        raise TemplateLimitError(f"{what} would be larger than the {limit} limit of {room} characters",
                                 limit=limit)
    return size


def dumps(value: Any, render: Render, indent: int | None = None) -> str:
    """``value`` as JSON text, weighed first (indentation counted)."""
    if indent is not None and not 0 <= indent <= _MAX_INDENT:
        raise TemplateLimitError(f"tojson's indent must be between 0 and {_MAX_INDENT}", limit="string")
    weight = weigh(value, render, render.limits.max_string, "the JSON text")
    if indent:
        weigh(value, render, max(0, render.limits.max_string - weight) // (indent + 1), "the indented JSON")
    text = json.dumps(value, ensure_ascii=False, indent=indent, allow_nan=False)
    render.room(len(text), "JSON text")
    return text
