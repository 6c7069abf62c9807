"""JavaScript value semantics for JSONLogic: kinds, truthiness, number and string coercion, comparisons.

JSONLogic was defined by a JavaScript implementation, so its answers follow JavaScript: ``[]`` is falsy,
``"5" > 3`` is true, ``1 == "1"`` is true, ``cat`` prints ``1.0`` as ``1``. The newer community suites
tighten the loose operators: a loose comparison that would compare against NaN (``1 == "A"``, anything
against an array or object) raises a ``NaN`` error instead of quietly answering false. This module is the
single place those decisions live; the generated code calls these helpers whenever its inline fast paths
(plain ints, floats and strings) do not apply.

Python-specific choices, all documented in docs/rules.md: integers stay exact up to 2**53 and become
floats beyond (JavaScript's safe-integer range); strings are compared and measured in code points rather
than UTF-16 units; ``===`` compares arrays and objects by value rather than by identity.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from automate.errors import EvaluationDepthError, InvalidDataError, NaNError, RuleLimitError

from .limits import MAX_STRING

__all__ = [
    "ARRAY",
    "BOOLEAN",
    "MAX_SAFE_INTEGER",
    "NULL",
    "NUMBER",
    "OBJECT",
    "STRING",
    "describe",
    "finish_number",
    "format_number",
    "js_number",
    "js_string",
    "json_kind",
    "loose_eq",
    "loose_ge",
    "loose_gt",
    "loose_le",
    "loose_lt",
    "parse_number",
    "strict_eq",
    "to_integer",
    "to_number",
    "too_long",
    "truthy",
]

NULL: Final = "null"
BOOLEAN: Final = "boolean"
NUMBER: Final = "number"
STRING: Final = "string"
ARRAY: Final = "array"
OBJECT: Final = "object"

MAX_SAFE_INTEGER: Final = 2**53
_NAN: Final = math.nan
_MAX_STRING_DEPTH: Final = 200

_EXACT_KINDS: Final[dict[type, str]] = {
    type(None): NULL,
    bool: BOOLEAN,
    int: NUMBER,
    float: NUMBER,
    str: STRING,
    list: ARRAY,
    tuple: ARRAY,
    dict: OBJECT,
}

# Characters JavaScript's Number() trims: WhiteSpace and LineTerminator of ECMA-262.
_JS_WHITESPACE: Final = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_INTEGER_TEXT: Final = re.compile(r"[+-]?[0-9]+")
_DECIMAL_TEXT: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_RADIX_TEXT: Final = re.compile(r"0(?:([xX][0-9a-fA-F]+)|([oO][0-7]+)|([bB][01]+))")
_INFINITIES: Final[dict[str, float]] = {"Infinity": math.inf, "+Infinity": math.inf, "-Infinity": -math.inf}


def json_kind(value: Any) -> str:
    """Classify a value as one of the six JSON kinds.

    Subclasses and the usual Python stand-ins are accepted (an ``IntEnum`` is a number, a ``Mapping`` an
    object, a tuple an array, a ``Decimal`` a number) so contexts built from Python objects work.

    Raises:
        InvalidDataError: The value has no JSON reading (a datetime, a set, bytes, an arbitrary object).
    """
    kind = _EXACT_KINDS.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, str):
        return STRING
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, (int, float, Decimal, numbers.Real)):
        return NUMBER
    if isinstance(value, Mapping):
        return OBJECT
    if isinstance(value, (list, tuple)):
        return ARRAY
    raise InvalidDataError(f"a {type(value).__name__} is not a JSON value")


def describe(value: Any) -> str:
    """Name a value's kind for error messages without printing the value (it may be large or private)."""
    try:
        return json_kind(value)
    except InvalidDataError:
        return type(value).__name__


def truthy(value: Any) -> bool:
    """JavaScript truthiness as JSONLogic defines it.

    Falsy: ``false``, ``0``, ``NaN``, ``""``, ``null`` and the empty array. Everything else is truthy,
    including ``"0"`` and every object, even ``{}`` (the one place Python's ``bool`` disagrees).
    """
    if value:
        return type(value) is not float or value == value
    return type(value) is dict or isinstance(value, Mapping)


def parse_number(text: str) -> int | float:
    """Read a string the way JavaScript's ``Number()`` does; NaN when it is not a number.

    Surrounding whitespace is ignored, the empty string is 0, ``Infinity`` and ``0x``/``0o``/``0b``
    literals are understood; Python-only spellings (``1_000``, ``inf``, ``nan``) are NaN. Integer text
    stays an exact ``int`` inside the safe-integer range.
    """
    stripped = text.strip(_JS_WHITESPACE)
    if not stripped:
        return 0
    if len(stripped) <= 15 and _INTEGER_TEXT.fullmatch(stripped):
        return int(stripped)
    if _DECIMAL_TEXT.fullmatch(stripped):
        return float(stripped)
    infinity = _INFINITIES.get(stripped)
    if infinity is not None:
        return infinity
    radix = _RADIX_TEXT.fullmatch(stripped)
    if radix is not None:
        digits = stripped[2:]
        base = 16 if radix.group(1) else 8 if radix.group(2) else 2
        return finish_number(int(digits, base)) if len(digits) <= 64 else float(int(digits[:64], base))
    return _NAN


def js_number(value: Any) -> int | float:
    """JavaScript ``Number(value)`` with the suites' reading of arrays and objects as NaN.

    ``null`` is 0, booleans are 0/1, strings go through :func:`parse_number`; an array or object is NaN.
    """
    kind_type = type(value)
    if kind_type is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else _big_int(value)
    if kind_type is float:
        return value  # type: ignore[no-any-return]
    if kind_type is bool:
        return 1 if value else 0
    if value is None:
        return 0
    if kind_type is str:
        return parse_number(value)
    kind = json_kind(value)
    if kind == NUMBER:
        if isinstance(value, numbers.Integral):
            return js_number(int(value))
        return float(value)
    if kind == STRING:
        return parse_number(str(value))
    if kind == BOOLEAN:
        return 1 if value else 0
    return _NAN


def to_number(value: Any) -> int | float:
    """Coerce an arithmetic operand; NaN is an error rather than a value.

    Raises:
        NaNError: The operand does not read as a number.
    """
    kind_type = type(value)
    if kind_type is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value  # type: ignore[no-any-return]
    number = js_number(value)
    if number != number:
        raise NaNError(f"a {describe(value)} operand is not a number")
    return number


def finish_number(result: int | float) -> int | float:
    """Bring an arithmetic result back into JavaScript's number domain.

    Integers beyond 2**53 become floats (as in JavaScript, and so repeated multiplication cannot build
    unbounded Python integers); a NaN result is an error.

    Raises:
        NaNError: The result is NaN (``Infinity - Infinity``, ``0 / 0``...).
    """
    if type(result) is int:
        return result if -MAX_SAFE_INTEGER <= result <= MAX_SAFE_INTEGER else _big_int(result)
    if result != result:
        raise NaNError("the result is not a number")
    return result


def _big_int(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def to_integer(value: Any) -> int:
    """JavaScript ``ToIntegerOrInfinity`` clamped to a slice-friendly range (NaN reads as 0)."""
    number = js_number(value)
    if number != number:
        return 0
    if number in (math.inf, -math.inf):
        return MAX_SAFE_INTEGER if number > 0 else -MAX_SAFE_INTEGER
    return int(number)


def format_number(number: int | float) -> str:
    """Print a number as JavaScript's ``String(number)`` does (``1.0`` is ``1``, ``1e21`` is ``1e+21``)."""
    if type(number) is int or isinstance(number, int):
        if -(10**21) < number < 10**21:
            return str(int(number))
        return format_number(_big_int(int(number)))
    value = float(number)
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign = "-" if value < 0 else ""
    mantissa, _, exponent_text = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent_text) if exponent_text else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    exponent = point - 1
    exponent_sign = "+" if exponent >= 0 else "-"
    head = digits if count == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{head}e{exponent_sign}{abs(exponent)}"


def js_string(value: Any, limit: int = MAX_STRING) -> str:
    """JavaScript ``String(value)``: how ``cat``, ``substr`` and string ``in`` see a value.

    Arrays join their elements with commas (``null`` elements print empty, cycles print empty), objects
    print ``[object Object]``.

    Raises:
        EvaluationDepthError: Arrays nest deeper than the engine is willing to print.
        RuleLimitError: An array prints longer than ``limit`` characters (an array holding the same large
            value many times would otherwise print without bound).
    """
    if type(value) is str:
        return value
    room = [limit]
    text = _js_string(value, 0, set(), room)
    if room[0] < 0:
        raise too_long(limit)
    return text


def too_long(limit: int) -> RuleLimitError:
    """The error of a string past ``limit`` characters."""
    return RuleLimitError(f"the evaluation built a string longer than its limit of {limit} characters",
                          limit="string")


def _js_string(value: Any, depth: int, active: set[int], room: list[int]) -> str:
    """``value`` printed; ``room[0]`` is the characters left, negative once printing stopped short."""
    kind_type = type(value)
    if kind_type is str:
        return value  # type: ignore[no-any-return]
    if kind_type is bool:
        return "true" if value else "false"
    if kind_type is int or kind_type is float:
        return format_number(value)
    if value is None:
        return "null"
    kind = json_kind(value)
    if kind == STRING:
        return str(value)
    if kind == NUMBER:
        return format_number(js_number(value))
    if kind == BOOLEAN:
        return "true" if value else "false"
    if kind == OBJECT:
        return "[object Object]"
    if depth >= _MAX_STRING_DEPTH:
        raise EvaluationDepthError("an array nests too deeply to print")
    if id(value) in active:
        return ""
    active.add(id(value))
    parts: list[str] = []
    try:
        room[0] -= len(value)  # the commas
        for item in value:
            if room[0] < 0:
                break
            if item is None:
                parts.append("")
            elif isinstance(item, (list, tuple)):  # an array counts its own parts
                parts.append(_js_string(item, depth + 1, active, room))
            else:
                part = _js_string(item, depth + 1, active, room)
                room[0] -= len(part)
                parts.append(part)
        return ",".join(parts)
    finally:
        active.discard(id(value))


def loose_eq(left: Any, right: Any) -> bool:
    """JSONLogic ``==``: JavaScript loose equality, with NaN comparisons raised as errors.

    Same-kind values compare directly; ``null`` equals only ``null`` (in JavaScript ``null == 0``,
    ``null == false`` and ``null == ""`` are all false); otherwise both sides become numbers.

    Raises:
        NaNError: An array or object is involved, or a side does not read as a number.
    """
    left_type = type(left)
    if left_type is type(right) and left_type in _SCALAR_TYPES:
        return bool(left == right)
    left_kind = json_kind(left)
    right_kind = json_kind(right)
    if left_kind in _CONTAINER_KINDS or right_kind in _CONTAINER_KINDS:
        raise NaNError(f"cannot loosely compare a {left_kind} with a {right_kind}")
    if left_kind == right_kind:
        if left_kind == NUMBER:
            return js_number(left) == js_number(right)
        if left_kind == STRING:
            return str(left) == str(right)
        return bool(left == right)
    if left_kind == NULL or right_kind == NULL:
        return False
    left_number = js_number(left)
    right_number = js_number(right)
    if left_number != left_number or right_number != right_number:
        raise NaNError(f"cannot loosely compare a {left_kind} with a {right_kind}: not a number")
    return left_number == right_number


_SCALAR_TYPES: Final = frozenset({str, int, float, bool, type(None)})
_CONTAINER_KINDS: Final = frozenset({ARRAY, OBJECT})


def _relational_pair(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Coerce a relational pair; None means "false because null met a non-number"."""
    left_kind = json_kind(left)
    right_kind = json_kind(right)
    if left_kind == STRING and right_kind == STRING:
        return str(left), str(right)
    if left_kind in _CONTAINER_KINDS or right_kind in _CONTAINER_KINDS:
        raise NaNError(f"cannot order a {left_kind} against a {right_kind}")
    left_number = js_number(left)
    right_number = js_number(right)
    if left_number != left_number or right_number != right_number:
        if left_kind == NULL or right_kind == NULL:
            return None
        raise NaNError(f"cannot order a {left_kind} against a {right_kind}: not a number")
    return left_number, right_number


def loose_lt(left: Any, right: Any) -> bool:
    """JSONLogic ``<``: strings compare as strings, everything else as numbers.

    Raises:
        NaNError: An array or object is involved, or a non-null side does not read as a number.
    """
    left_type = type(left)
    right_type = type(right)
    if (left_type is int or left_type is float) and (right_type is int or right_type is float):
        return bool(left < right)
    if left_type is str and right_type is str:
        return bool(left < right)
    pair = _relational_pair(left, right)
    return pair is not None and bool(pair[0] < pair[1])


def loose_le(left: Any, right: Any) -> bool:
    """JSONLogic ``<=``, with the coercions of :func:`loose_lt`."""
    left_type = type(left)
    right_type = type(right)
    if (left_type is int or left_type is float) and (right_type is int or right_type is float):
        return bool(left <= right)
    if left_type is str and right_type is str:
        return bool(left <= right)
    pair = _relational_pair(left, right)
    return pair is not None and bool(pair[0] <= pair[1])


def loose_gt(left: Any, right: Any) -> bool:
    """JSONLogic ``>``, with the coercions of :func:`loose_lt`."""
    return loose_lt(right, left)


def loose_ge(left: Any, right: Any) -> bool:
    """JSONLogic ``>=``, with the coercions of :func:`loose_lt`."""
    return loose_le(right, left)


def strict_eq(left: Any, right: Any) -> bool:
    """JSONLogic ``===``: same JSON kind and same value, no coercion.

    ``1 === 1.0`` holds (one JSON number), ``1 === true`` does not. Arrays and objects compare by value,
    element by element with these same rules (JavaScript compares them by identity, which a rule written
    in JSON cannot use).
    """
    left_type = type(left)
    if left_type is type(right) and left_type in _SCALAR_TYPES:
        return bool(left == right)
    left_kind = json_kind(left)
    if left_kind != json_kind(right):
        return False
    if left_kind == NUMBER:
        return js_number(left) == js_number(right)
    if left_kind == STRING:
        return str(left) == str(right)
    if left_kind in _CONTAINER_KINDS:
        return _containers_equal(left, right)
    return bool(left == right)


def _containers_equal(left: Any, right: Any) -> bool:
    """Compare two arrays or objects without recursion; a pair met twice (a cycle) counts as equal."""
    pending: list[tuple[Any, Any]] = [(left, right)]
    seen: set[tuple[int, int]] = set()
    while pending:
        one, other = pending.pop()
        marker = (id(one), id(other))
        if one is other or marker in seen:
            continue
        seen.add(marker)
        if json_kind(one) == ARRAY:
            if len(one) != len(other):
                return False
            pairs: list[tuple[Any, Any]] = list(zip(one, other, strict=True))
        else:
            if len(one) != len(other) or any(key not in other for key in one):
                return False
            pairs = [(one[key], other[key]) for key in one]
        for item, counterpart in pairs:
            item_kind = json_kind(item)
            if item_kind in _CONTAINER_KINDS:
                if json_kind(counterpart) != item_kind:
                    return False
                pending.append((item, counterpart))
            elif not strict_eq(item, counterpart):
                return False
    return True
