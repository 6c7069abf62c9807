"""What one evaluation may build and do, and the charging helpers that hold it to that.

A rule is small, but what it is evaluated on is not, and iterators multiply: ``reduce`` with ``cat`` doubles
a string per item, ``map`` inside ``map`` squares an array, an iterator body reaching back to a large outer
value goes through it once per item. Three limits bound every evaluation (:class:`RuleLimits`):

* ``max_string``: the characters of a string an operator builds (``cat``, ``substr``, an array printed).
* ``max_array``: the items of an array ``merge`` builds.
* ``max_work``: the work of one evaluation of a rule with iterators, in steps: every item an iterator
  nested in another goes through, every call inside an iterator body, and the size of the values that
  call reads (an array's items, a string's characters in units of 64).

Past one, evaluation raises :class:`~automate.errors.RuleLimitError` (``rules.limit``), which a rule's
``try`` does not catch. Work outside iterators runs once per evaluation, so it is bounded by the rule and
its data; only rules with iterators are metered, and only their iterator bodies pay for it: the generated
code of such a rule makes each evaluation's budget on entry (``m0 = [max_work]``, local to the call, so
evaluations on other threads or nested in a custom operator have their own) and, inside iterator bodies,
calls the charging twins of :func:`metered_helpers` (``_catw(m0, ...)``) in place of the plain helpers.
Plain rules pay nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from automate.errors import RuleLimitError, UsageError

__all__ = ["DEFAULT_LIMITS", "MAX_ARRAY", "MAX_STRING", "MAX_WORK", "METERED_HELPERS", "RuleLimits",
           "metered_helpers"]


MAX_STRING: Final = 1_000_000
MAX_ARRAY: Final = 1_000_000
MAX_WORK: Final = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleLimits:
    """The limits of one evaluation (see the module's documentation).

    Attributes:
        max_string: Characters of a string an operator builds.
        max_array: Items of an array ``merge`` builds.
        max_work: Steps of work of one evaluation of a rule with iterators.
    """

    max_string: int = MAX_STRING
    max_array: int = MAX_ARRAY
    max_work: int = MAX_WORK

    def __post_init__(self) -> None:
        for name in ("max_string", "max_array", "max_work"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise UsageError(f"RuleLimits.{name} must be a positive int, not {value!r}")


DEFAULT_LIMITS: Final = RuleLimits()

_CHARS_PER_STEP_SHIFT: Final = 6  # a string's characters cost one step per 64


def _exhausted() -> None:
    raise RuleLimitError("the evaluation went past its work limit (iterations and the values they read)",
                         limit="work")


def _size(value: Any) -> int:
    """What a helper's argument costs to go through: an array's items and the characters of the strings
    among them, a string's characters (both in steps)."""
    kind = type(value)
    if kind is str:
        return len(value) >> _CHARS_PER_STEP_SHIFT
    if kind is list or kind is tuple:
        total = len(value)
        for item in value:
            if type(item) is str and len(item) > 64:
                total += len(item) >> _CHARS_PER_STEP_SHIFT
        return total
    if kind is dict:
        return len(value)
    return 0


def _by_arguments(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` charging one step plus the size of its arguments before it runs."""

    def metered(budget: list[int], *args: Any) -> Any:
        cost = 1
        for arg in args:
            if type(arg) is not int:
                cost += _size(arg)
        left = budget[0] - cost
        budget[0] = left
        if left < 0:
            _exhausted()
        return function(*args)

    return metered


def _by_result(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a builder, size-capped itself) charging its arguments and the size of its result."""

    def metered(budget: list[int], *args: Any) -> Any:
        result = function(*args)
        cost = 1 + _size(result)
        for arg in args:
            if type(arg) is not int:
                cost += _size(arg)
        left = budget[0] - cost
        budget[0] = left
        if left < 0:
            _exhausted()
        return result

    return metered


def _collection(function: Callable[[Any], Any]) -> Callable[[list[int], Any], Any]:
    """An iterator's collection helper charging one step per item (the fast path of every iterator)."""

    def metered(budget: list[int], value: Any) -> Any:
        items = function(value)
        left = budget[0] - len(items) - 1
        budget[0] = left
        if left < 0:
            _exhausted()
        return items

    return metered


def _nodes(value: Any, most: int) -> int:
    """How many arrays, objects and items ``value`` holds, counting at most a little past ``most``."""
    count = 0
    pending = [value]
    while pending and count <= most:
        item = pending.pop()
        kind = type(item)
        if kind is list or kind is tuple:
            count += len(item) + 1
            pending.extend(child for child in item if type(child) in (list, tuple, dict))
        elif kind is dict:
            count += len(item) + 1
            pending.extend(child for child in item.values() if type(child) in (list, tuple, dict))
    return count


def _deep(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (strict equality, copying a literal) charging the nodes of its container arguments,
    which it may go through entirely."""

    def metered(budget: list[int], *args: Any) -> Any:
        cost = 1
        for arg in args:
            kind = type(arg)
            if kind is list or kind is dict or kind is tuple:
                cost += _nodes(arg, budget[0])
            elif kind is str:
                cost += len(arg) >> _CHARS_PER_STEP_SHIFT
        left = budget[0] - cost
        budget[0] = left
        if left < 0:
            _exhausted()
        return function(*args)

    return metered


_BUILDERS: Final = frozenset({"_cat", "_substr", "_merge"})
_COLLECTIONS: Final = frozenset({"_arr0", "_arr1"})
_DEEP: Final = frozenset({"_seq", "_cp"})
METERED_HELPERS: Final = frozenset({
    "_eq", "_seq", "_lt", "_le", "_gt", "_ge", "_tonum", "_vdyn", "_valdyn", "_exdyn", "_miss", "_misssome",
    "_add", "_addn", "_sub", "_subn", "_neg", "_mul", "_muln", "_div", "_divn", "_recip", "_mod", "_modn",
    "_max", "_min", "_cat", "_substr", "_in", "_merge", "_arr0", "_arr1", "_reduce", "_throw", "_log",
    "_call", "_cp",
})
"""The helpers whose cost depends on their arguments: inside an iterator body of a metered rule the
generated code calls their ``w`` twin (``_catw``)."""


def metered_helpers(helpers: dict[str, Any]) -> dict[str, Any]:
    """The metered twins (``<name>w``) of the helpers named in :data:`METERED_HELPERS`."""
    twins: dict[str, Any] = {}
    for name in METERED_HELPERS:
        function = helpers[name]
        if name in _COLLECTIONS:
            twins[name + "w"] = _collection(function)
        elif name in _BUILDERS:
            twins[name + "w"] = _by_result(function)
        elif name in _DEEP:
            twins[name + "w"] = _deep(function)
        else:
            twins[name + "w"] = _by_arguments(function)
    return twins
