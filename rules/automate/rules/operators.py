"""Run-time bodies of the JSONLogic operators that the generated code does not inline.

The code generator (codegen.py) turns control flow (``if``, ``and``, ``or``, ``??``), comparisons and the
iterators into Python expressions directly; everything with real work or real coercion lives here as
plain functions, so each has one tested implementation shared by the fast path and ``explain``.
"""

from __future__ import annotations

import logging
import math
import reprlib
from collections.abc import Callable, Sequence
from typing import Any, Final

from automate.errors import (
    InvalidOperandError,
    NaNError,
    OperatorError,
    RuleError,
    RuleEvaluationError,
    RuleLimitError,
    ThrownError,
)

from .limits import MAX_ARRAY, MAX_STRING
from .semantics import (
    ARRAY,
    NUMBER,
    OBJECT,
    STRING,
    describe,
    finish_number,
    js_number,
    js_string,
    json_kind,
    strict_eq,
    to_integer,
    to_number,
    too_long,
)

__all__ = [
    "add",
    "add_many",
    "array_or_empty",
    "array_required",
    "call_custom",
    "cat",
    "copy_json",
    "div",
    "div_many",
    "js_in",
    "length",
    "log_value",
    "maximum",
    "merge",
    "minimum",
    "mod",
    "mod_many",
    "mul",
    "mul_many",
    "negate",
    "reciprocal",
    "reduce_items",
    "spread",
    "sub",
    "sub_many",
    "substr",
    "throw",
    "try_each",
]

_LOGGER: Final = logging.getLogger("automate.rules")
_MAX_LOGGED_CHARS: Final = 200


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxtuple = 4, 20, 20, 20
    short.maxstring = short.maxlong = short.maxother = _MAX_LOGGED_CHARS
    return short


_SHORT: Final = _short_repr()


# --- arithmetic -----------------------------------------------------------------------------------------


def add(left: Any, right: Any) -> int | float:
    """Binary ``+`` with JavaScript number coercion."""
    return finish_number(to_number(left) + to_number(right))


def add_many(operands: Sequence[Any]) -> int | float:
    """Variadic ``+``; no operands sum to 0."""
    total: int | float = 0
    for operand in operands:
        total += to_number(operand)
    return finish_number(total)


def sub(left: Any, right: Any) -> int | float:
    """Binary ``-``."""
    return finish_number(to_number(left) - to_number(right))


def negate(operand: Any) -> int | float:
    """Unary ``-``."""
    return finish_number(-to_number(operand))


def sub_many(operands: Sequence[Any]) -> int | float:
    """Variadic ``-``: one operand negates, more subtract left to right.

    Raises:
        InvalidOperandError: There are no operands.
    """
    if not operands:
        raise InvalidOperandError("- needs at least one operand")
    if len(operands) == 1:
        return negate(operands[0])
    result = to_number(operands[0])
    for operand in operands[1:]:
        result = finish_number(result - to_number(operand))
    return finish_number(result)


def mul(left: Any, right: Any) -> int | float:
    """Binary ``*``."""
    return finish_number(to_number(left) * to_number(right))


def mul_many(operands: Sequence[Any]) -> int | float:
    """Variadic ``*``; no operands multiply to 1."""
    product: int | float = 1
    for operand in operands:
        product = finish_number(product * to_number(operand))
    return product


def div(left: Any, right: Any) -> int | float:
    """Binary ``/``; integral results come back as ints.

    Raises:
        NaNError: Division by zero (the suites treat JavaScript's Infinity/NaN results as errors).
    """
    divisor = to_number(right)
    if divisor == 0:
        raise NaNError("division by zero")
    quotient = to_number(left) / divisor
    if quotient != quotient:
        raise NaNError("the quotient is not a number")
    if quotient.is_integer() and abs(quotient) <= 2**53:
        return int(quotient)
    return quotient


def reciprocal(operand: Any) -> int | float:
    """Unary ``/``: ``1 / operand``."""
    return div(1, operand)


def div_many(operands: Sequence[Any]) -> int | float:
    """Variadic ``/``: one operand is a reciprocal, more divide left to right.

    Raises:
        InvalidOperandError: There are no operands.
    """
    if not operands:
        raise InvalidOperandError("/ needs at least one operand")
    if len(operands) == 1:
        return reciprocal(operands[0])
    result: int | float = to_number(operands[0])
    for operand in operands[1:]:
        result = div(result, operand)
    return result


def mod(left: Any, right: Any) -> int | float:
    """Binary ``%`` with JavaScript's remainder (the sign follows the dividend).

    Raises:
        NaNError: The divisor is zero or the dividend is infinite.
    """
    dividend = to_number(left)
    divisor = to_number(right)
    if divisor == 0:
        raise NaNError("remainder of a division by zero")
    if type(dividend) is int and type(divisor) is int:
        remainder = abs(dividend) % abs(divisor)
        return -remainder if dividend < 0 else remainder
    try:
        result = math.fmod(dividend, divisor)
    except ValueError:
        raise NaNError("the remainder is not a number") from None
    return int(result) if result.is_integer() and abs(result) <= 2**53 else result


def mod_many(operands: Sequence[Any]) -> int | float:
    """Variadic ``%`` folding left to right.

    Raises:
        InvalidOperandError: Fewer than two operands.
    """
    if len(operands) < 2:
        raise InvalidOperandError("% needs at least two operands")
    result: int | float = mod(operands[0], operands[1])
    for operand in operands[2:]:
        result = mod(result, operand)
    return result


def _strict_numbers(name: str, operands: Sequence[Any]) -> list[int | float]:
    if not operands:
        raise InvalidOperandError(f"{name} needs at least one number")
    numbers: list[int | float] = []
    for operand in operands:
        operand_type = type(operand)
        if operand_type is int or operand_type is float:
            numbers.append(operand)
        elif operand_type is not bool and json_kind(operand) == NUMBER:
            numbers.append(js_number(operand))
        else:
            raise InvalidOperandError(f"{name} accepts numbers only, got a {describe(operand)}")
    return numbers


def maximum(operands: Sequence[Any]) -> int | float:
    """``max`` of numbers; other kinds are rejected rather than coerced (as the suites require)."""
    return max(_strict_numbers("max", operands))


def minimum(operands: Sequence[Any]) -> int | float:
    """``min`` of numbers; other kinds are rejected rather than coerced."""
    return min(_strict_numbers("min", operands))


# --- strings and arrays ---------------------------------------------------------------------------------


def spread(value: Any) -> Sequence[Any]:
    """Arguments computed by one expression: an array is the argument list, anything else one argument."""
    if type(value) is list:
        return value
    if json_kind(value) == ARRAY:
        return list(value)
    return [value]


def cat(operands: Sequence[Any], limit: int = MAX_STRING) -> str:
    """``cat``: concatenate JavaScript string forms; ``null`` contributes nothing.

    Raises:
        RuleLimitError: The result would be longer than ``limit`` characters.
    """
    parts: list[str] = []
    room = limit
    for item in operands:
        if item is None or type(item) is str:
            part = item or ""
        else:
            try:
                part = js_string(item, max(room, 0))
            except RuleLimitError:
                raise too_long(limit) from None
        room -= len(part)
        if room < 0:
            raise too_long(limit)
        parts.append(part)
    return "".join(parts)


def substr(source: Any, start: Any = 0, count: Any = None, limit: int = MAX_STRING) -> str:
    """``substr`` as in JavaScript's ``String.prototype.substr``, plus a negative count trimming the end.

    Raises:
        RuleLimitError: ``source`` is an array that prints longer than ``limit`` characters.
    """
    text = js_string(source, limit)
    begin = to_integer(start)
    if begin < 0:
        begin = max(len(text) + begin, 0)
    tail = text[begin:]
    if count is None:
        return tail
    length_ = to_integer(count)
    if length_ < 0:
        return tail[: max(len(tail) + length_, 0)]
    return tail[:length_]


def js_in(needle: Any, haystack: Any) -> bool:
    """``in``: strict membership in an array, substring test in a string, false for anything else."""
    haystack_type = type(haystack)
    if haystack_type is list or (haystack_type is not str and json_kind(haystack) == ARRAY):
        needle_type = type(needle)
        if needle_type is str or needle is None:
            return needle in haystack
        if needle_type is bool:
            return any(item is needle for item in haystack)
        if (needle_type is int or needle_type is float) and needle not in haystack:
            return False
        return any(strict_eq(needle, item) for item in haystack)
    if haystack_type is str or json_kind(haystack) == STRING:
        text = str(haystack)
        try:
            return js_string(needle, len(text)) in text
        except RuleLimitError:  # prints longer than the haystack: it cannot be inside it
            return False
    return False


def merge(operands: Sequence[Any], limit: int = MAX_ARRAY) -> list[Any]:
    """``merge``: flatten one level; non-array operands are kept as elements.

    Raises:
        RuleLimitError: The result would hold more than ``limit`` items.
    """
    merged: list[Any] = []
    for operand in operands:
        if type(operand) is list or (type(operand) is not str and json_kind(operand) == ARRAY):
            if len(merged) + len(operand) > limit:
                raise RuleLimitError(f"merge would build an array of more than {limit} items", limit="array")
            merged.extend(operand)
        else:
            if len(merged) >= limit:
                raise RuleLimitError(f"merge would build an array of more than {limit} items", limit="array")
            merged.append(operand)
    return merged


def length(value: Any) -> int:
    """``length`` of a string (in code points) or an array.

    Raises:
        InvalidOperandError: The value is neither.
    """
    kind = json_kind(value)
    if kind in (STRING, ARRAY):
        return len(value)
    raise InvalidOperandError(f"length needs a string or an array, got a {kind}")


def array_or_empty(value: Any) -> Sequence[Any]:
    """The collection of ``map``/``filter``/``reduce``: a non-array (e.g. a missing var) is empty."""
    if type(value) is list:
        return value
    if value is not None and type(value) is not str and json_kind(value) == ARRAY:
        return value  # type: ignore[no-any-return]
    return ()


def array_required(value: Any) -> Sequence[Any]:
    """The collection of ``all``/``some``/``none``, which must be an array.

    Raises:
        InvalidOperandError: The value is not an array (a missing var included, as the suites require).
    """
    if type(value) is list:
        return value
    if value is not None and json_kind(value) == ARRAY:
        return value  # type: ignore[no-any-return]
    raise InvalidOperandError(f"expected an array to iterate, got a {describe(value)}")


def reduce_items(items: Sequence[Any], body: Callable[[int, Any], Any], initial: Any) -> Any:
    """``reduce``: the body sees ``{"current": item, "accumulator": so_far}`` as its data."""
    accumulator = initial
    for index, item in enumerate(items):
        accumulator = body(index, {"current": item, "accumulator": accumulator})
    return accumulator


def copy_json(value: Any) -> Any:
    """Deep-copy a JSON tree without recursion, so rule literals handed out can be mutated safely."""
    value_type = type(value)
    if value_type is not list and value_type is not dict:
        return value
    root: Any = [] if value_type is list else {}
    pending: list[tuple[Any, Any]] = [(value, root)]
    while pending:
        source, target = pending.pop()
        items = enumerate(source) if type(source) is list else source.items()
        is_list = type(target) is list
        for key, item in items:
            item_type = type(item)
            if item_type is list or item_type is dict:
                fresh: Any = [] if item_type is list else {}
                pending.append((item, fresh))
                item = fresh
            if is_list:
                target.append(item)
            else:
                target[key] = item
    return root


# --- control --------------------------------------------------------------------------------------------


def throw(value: Any) -> Any:
    """``throw``: raise a typed error; a string is the type, an object supplies its own ``type``.

    Raises:
        ThrownError: Always.
    """
    if json_kind(value) == OBJECT and "type" in value:
        kind = value["type"]
        error_type = kind if type(kind) is str else js_string(kind)
        raise ThrownError(f"rule threw {error_type[:_MAX_LOGGED_CHARS]!r}", value=value, type=error_type)
    error_type = value if type(value) is str else js_string(value)
    raise ThrownError(f"rule threw {error_type[:_MAX_LOGGED_CHARS]!r}", value={"type": error_type},
                      type=error_type)


def try_each(first: Callable[[], Any], *fallbacks: Callable[[int, Any], Any]) -> Any:
    """``try``: the first branch that does not raise wins; each fallback sees the previous error object.

    Raises:
        RuleEvaluationError: Every branch raised; the last error propagates.
        RuleLimitError: A branch went past a limit (never caught: a limit is not the rule's to handle).
    """
    try:
        return first()
    except RuleLimitError:
        raise
    except RuleEvaluationError as error:
        last = error
    for index, fallback in enumerate(fallbacks):
        try:
            return fallback(index, last.error_object)
        except RuleLimitError:
            raise
        except RuleEvaluationError as error:
            last = error
    raise last


def log_value(value: Any) -> Any:
    """``log``: record the value (abbreviated) at INFO and return it unchanged."""
    text = _SHORT.repr(value)  # bounded however large or repetitive the value
    if len(text) > _MAX_LOGGED_CHARS:
        text = text[:_MAX_LOGGED_CHARS] + "..."
    _LOGGER.info("rule log: %s", text, extra={"action": "rules.log"})
    return value


def call_custom(function: Callable[..., Any], name: str, operands: Sequence[Any]) -> Any:
    """Call a registered operator, turning its unexpected exceptions into typed rule errors.

    Raises:
        OperatorError: The operator raised something other than a RuleError.
    """
    try:
        return function(*operands)
    except RuleError:
        raise
    except Exception as error:
        raise OperatorError(f"operator {name!r} raised {type(error).__name__}: {error}") from error
