"""Reading the context: ``var``, ``val``, ``exists``, ``missing`` and ``missing_some``.

Two path styles coexist. Classic ``var`` takes one dotted string (``"customer.email"``, ``"items.0"``)
and a default; the newer ``val`` takes a list of raw segments (so keys may contain dots) and can climb out
of an iteration with a leading ``[n]`` segment. Both treat a missing key, an index out of range and a step
through ``null`` alike: the value is absent. The generated code inlines the common one-key dictionary
lookup and calls these helpers for everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from automate.errors import InvalidDataError, InvalidOperandError

from .semantics import ARRAY, STRING, js_number, js_string, json_kind

__all__ = [
    "MISSING",
    "exists_dynamic",
    "exists_path",
    "missing",
    "missing_some",
    "val_dynamic",
    "val_path",
    "var_dynamic",
    "var_find",
    "var_get",
    "var_keys",
]


class _Missing:
    """Sentinel for "no such key", distinct from a present ``null``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()
_SCALAR_TYPES: Final = (str, int, float, bool, type(None))


def _array_index(key: str | int) -> int | None:
    """The list index a key names, as JavaScript reads property names on arrays."""
    if type(key) is int:
        return key if key >= 0 else None
    text = str(key)
    if not text or len(text) > 18 or not (text.isascii() and text.isdigit()):
        return None
    if len(text) > 1 and text[0] == "0":
        return None
    return int(text)


def _step(container: Any, key: str | int) -> Any:
    """Take one step along a path; MISSING when the step leads nowhere."""
    container_type = type(container)
    if container_type is dict:
        return container.get(key if type(key) is str else str(key), MISSING)
    if container_type is list:
        index = _array_index(key)
        return container[index] if index is not None and index < len(container) else MISSING
    if container is None or container_type in _SCALAR_TYPES:
        return MISSING
    if isinstance(container, Mapping):
        return container.get(key if type(key) is str else str(key), MISSING)
    if isinstance(container, Sequence) and not isinstance(container, (str, bytes, bytearray)):
        index = _array_index(key)
        return container[index] if index is not None and index < len(container) else MISSING
    if isinstance(container, (str, int, float, bool)):
        return MISSING
    raise InvalidDataError(f"cannot read key {key!r} from a {type(container).__name__}")


def var_keys(path: Any) -> tuple[str, ...] | None:
    """Split a classic ``var`` path into keys; None means "the whole data"."""
    if path is None:
        return None
    text = js_string(path)
    if text == "":
        return None
    return tuple(text.split("."))


def var_find(data: Any, keys: tuple[str, ...] | None) -> Any:
    """Follow classic ``var`` keys; MISSING when absent (a present ``null`` is returned as None)."""
    if keys is None:
        return data
    current = data
    for key in keys:
        current = _step(current, key)
        if current is MISSING:
            return MISSING
    return current


def var_get(data: Any, keys: tuple[str, ...]) -> Any:
    """Follow classic ``var`` keys; None when absent."""
    current = data
    for key in keys:
        current = _step(current, key)
        if current is MISSING:
            return None
    return current


def var_dynamic(data: Any, path: Any, default: Any = None) -> Any:
    """``var`` whose path is computed at evaluation time (e.g. ``{"var": {"cat": [...]}}``)."""
    found = var_find(data, var_keys(path))
    return default if found is MISSING else found


def val_path(data: Any, segments: tuple[str | int, ...]) -> Any:
    """Follow ``val`` segments from an already chosen scope; None when absent."""
    current = data
    for segment in segments:
        current = _step(current, segment)
        if current is MISSING:
            return None
    return current


def _segment(value: Any) -> str | int:
    if type(value) is int or type(value) is str:
        return value
    return js_string(value)


def _resolve_scope(chain: tuple[Any, ...], arguments: list[Any]) -> tuple[Any, list[Any]]:
    """Pick the scope a ``val``/``exists`` path starts from and the remaining raw segments."""
    if len(arguments) == 1 and json_kind(arguments[0]) == ARRAY:
        arguments = list(arguments[0])
    scope = chain[-1]
    if arguments and json_kind(arguments[0]) == ARRAY:
        climb = arguments[0]
        levels = abs(int(js_number(climb[0]))) if len(climb) else 0
        scope = chain[max(len(chain) - 1 - levels, 0)]
        arguments = arguments[1:]
    return scope, arguments


def val_dynamic(chain: tuple[Any, ...], arguments: list[Any]) -> Any:
    """``val`` whose segments are computed at evaluation time; ``chain`` is the stack of scopes."""
    scope, segments = _resolve_scope(chain, arguments)
    return val_path(scope, tuple(_segment(item) for item in segments))


def exists_path(data: Any, segments: tuple[str | int, ...]) -> bool:
    """True when every segment is present, even if the value found is ``null``."""
    current = data
    for segment in segments:
        current = _step(current, segment)
        if current is MISSING:
            return False
    return True


def exists_dynamic(chain: tuple[Any, ...], arguments: list[Any]) -> bool:
    """``exists`` with segments computed at evaluation time."""
    scope, segments = _resolve_scope(chain, arguments)
    return exists_path(scope, tuple(_segment(item) for item in segments))


def missing(data: Any, arguments: Sequence[Any]) -> list[Any]:
    """The keys among ``arguments`` whose value is absent, ``null`` or ``""``.

    As in classic JSONLogic, when the first argument is itself an array (typically the result of
    ``merge`` or ``if``), that array is the list of keys.
    """
    keys: Sequence[Any] = arguments
    if arguments and json_kind(arguments[0]) == ARRAY:
        keys = arguments[0]
    absent: list[Any] = []
    for key in keys:
        found = var_find(data, var_keys(key))
        if found is MISSING or found is None or (json_kind(found) == STRING and str(found) == ""):
            absent.append(key)
    return absent


def missing_some(data: Any, need: Any, keys: Any) -> list[Any]:
    """``[]`` when at least ``need`` of ``keys`` are present, otherwise the absent keys.

    Raises:
        InvalidOperandError: ``keys`` is not an array.
    """
    if json_kind(keys) != ARRAY:
        raise InvalidOperandError("missing_some needs an array of keys as its second argument")
    absent = missing(data, [keys])
    if len(keys) - len(absent) >= js_number(need):
        return []
    return absent
