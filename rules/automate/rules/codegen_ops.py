"""Emitters for comparisons, arithmetic, strings, arrays and iterators.

Comparisons against a literal get an inline fast path for the common Python types (``x > 1000`` when
``x`` is a plain int or float, ``x == 'active'`` when it is a str) and fall back to the JavaScript
semantics of semantics.py otherwise. ``all``/``some``/``none`` become small functions with a plain loop,
which beats ``any()`` over a generator; ``map``/``filter`` become list comprehensions.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from . import semantics
from .codegen_base import NOT_LITERAL, Code, GeneratorBase, height_of
from .parser import Node
from .spec import ANY, BOOL, LIST, NUM, STR

__all__ = ["OperatorEmitters"]

_PY_OPERATORS: Final = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}
_RELATIONAL_HELPERS: Final = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}
# operator: (helper for one operand, for two, for a sequence, value with no operands); None where the
# parser already rejects that count (a spread argument list is checked at run time by the sequence helper).
_ARITHMETIC: Final[dict[str, tuple[str | None, str, str, str | None]]] = {
    "+": ("_tonum", "_add", "_addn", "0"),
    "-": ("_neg", "_sub", "_subn", None),
    "*": ("_tonum", "_mul", "_muln", "1"),
    "/": ("_recip", "_div", "_divn", None),
    "%": (None, "_mod", "_modn", None),
}


class OperatorEmitters(GeneratorBase):
    """Emitters of the eager and iterating operators."""

    # --- comparisons ------------------------------------------------------------------------------------

    def op_compare(self, node: Node, args: list[Code]) -> Code:
        if len(args) == 2:
            return Code(self.pair(node.op, args[0], args[1]), BOOL, height_of(args) + 3)
        parts: list[str] = []
        left = args[0]
        for position, right in enumerate(args[1:], start=1):
            if position < len(args) - 1 and not right.simple:
                first, later = self.bind(right)
                parts.append(self.pair(node.op, left, Code(first, right.kind, right.height)))
                left = Code(later, right.kind, 0, simple=True)
            else:
                parts.append(self.pair(node.op, left, right))
                left = right
        return Code("(" + " and ".join(parts) + ")", BOOL, height_of(args) + 4)

    def pair(self, op: str, left: Code, right: Code) -> str:
        left_value = left.value
        right_value = right.value
        if op in ("===", "!=="):
            return self.strict_pair(op == "!==", left, right, left_value, right_value)
        if op in ("==", "!="):
            return self.loose_pair(op == "!=", left, right, left_value, right_value)
        return self.relational_pair(op, left, right, left_value, right_value)

    def strict_pair(self, negate: bool, left: Code, right: Code, left_value: Any, right_value: Any) -> str:
        if left_value is not NOT_LITERAL and right_value is NOT_LITERAL:
            left, right, left_value, right_value = right, left, right_value, left_value
        if right_value is not NOT_LITERAL and left_value is NOT_LITERAL:
            if type(right_value) is str:
                return f"({left.text} {'!=' if negate else '=='} {right.text})"
            if right_value is None or type(right_value) is bool:
                return f"({left.text} {'is not' if negate else 'is'} {right.text})"
        call = f"{self.h('_seq')}{left.text}, {right.text})"
        return f"(not {call})" if negate else call

    def loose_pair(self, negate: bool, left: Code, right: Code, left_value: Any, right_value: Any) -> str:
        if left_value is not NOT_LITERAL and right_value is NOT_LITERAL:
            left, right, left_value, right_value = right, left, right_value, left_value
        test = None
        if type(right_value) is str and math.isnan(semantics.parse_number(right_value)):
            # A non-numeric string literal: equal only to the same string; numbers raise NaN in _eq.
            test = "is str"
        elif type(right_value) is int or type(right_value) is float:
            test = "in _NUM"
        equal = self.h("_eq")
        fallback = f"not {equal}" if negate else equal
        if test is None:
            call = f"{equal}{left.text}, {right.text})"
            return f"(not {call})" if negate else call
        first, later = self.bind(left)
        symbol = "!=" if negate else "=="
        return (
            f"({later} {symbol} {right.text} if type({first}) {test} else {fallback}{later}, {right.text}))"
        )

    def relational_pair(self, op: str, left: Code, right: Code, left_value: Any, right_value: Any) -> str:
        helper = self.h(_RELATIONAL_HELPERS[op])
        symbol = _PY_OPERATORS[op]
        for literal, other, literal_on_right in ((right_value, left, True), (left_value, right, False)):
            if literal is NOT_LITERAL or type(literal) is bool:
                continue
            if type(literal) is int or type(literal) is float:
                test = "in _NUM"
            elif type(literal) is str:
                test = "is str"
            else:
                continue
            if (left_value is not NOT_LITERAL) and (right_value is not NOT_LITERAL):
                break
            first, later = self.bind(other)
            constant = right.text if literal_on_right else left.text
            ordered = f"{later} {symbol} {constant}" if literal_on_right else f"{constant} {symbol} {later}"
            call = f"{helper}{later}, {constant})" if literal_on_right else f"{helper}{constant}, {later})"
            return f"({ordered} if type({first}) {test} else {call})"
        return f"{helper}{left.text}, {right.text})"

    # --- arithmetic, strings, arrays --------------------------------------------------------------------

    def op_arithmetic(self, node: Node, args: list[Code]) -> Code:
        unary, binary, variadic, empty = _ARITHMETIC[node.op]
        unary = self.h(unary) if unary is not None else None
        binary, variadic = self.h(binary), self.h(variadic)
        height = height_of(args) + 2
        if node.spread:
            return Code(f"{variadic}_spread({args[0].text}))", NUM, height)
        if not args and empty is not None:
            return Code(empty, NUM, 0, simple=True, value=int(empty))
        if len(args) == 1 and unary is not None:
            return Code(f"{unary}{args[0].text})", NUM, height)
        if len(args) == 2:
            return Code(f"{binary}{args[0].text}, {args[1].text})", NUM, height)
        return Code(f"{variadic}{self.arguments(node, args)})", NUM, height)

    def op_extremum(self, node: Node, args: list[Code]) -> Code:
        helper = self.h("_max" if node.op == "max" else "_min")
        return Code(f"{helper}{self.arguments(node, args)})", NUM, height_of(args) + 2)

    def op_cat(self, node: Node, args: list[Code]) -> Code:
        if not args:
            return Code("''", STR, 0, simple=True)
        text = f"{self.h('_cat')}{self.arguments(node, args)}, {self.limits.max_string})"
        return Code(text, STR, height_of(args) + 2)

    def op_substr(self, node: Node, args: list[Code]) -> Code:
        given = [arg.text for arg in args] + ["0", "None"][len(args) - 1:]
        text = f"{self.h('_substr')}{', '.join(given)}, {self.limits.max_string})"
        return Code(text, STR, height_of(args) + 1)

    def op_in(self, node: Node, args: list[Code]) -> Code:
        haystack = self.program.nodes[node.args[1]]
        values = haystack.value if haystack.is_literal else None
        helper = self.h("_in")
        if type(values) is list and values and all(type(item) is str for item in values):
            members = self.constant(frozenset(values))
            listed = self.constant(values)
            first, later = self.bind(args[0])
            text = f"({later} in {members} if type({first}) is str else {helper}{later}, {listed}))"
            return Code(text, BOOL, args[0].height + 3)
        if type(values) is list:
            return Code(f"{helper}{args[0].text}, {self.constant(values)})", BOOL, args[0].height + 1)
        if type(args[0].value) is str and not self.charged:  # a list scan inline: not inside a metered body
            first, later = self.bind(args[1])
            text = f"({args[0].text} in {later} if type({first}) is list else _in({args[0].text}, {later}))"
            return Code(text, BOOL, args[1].height + 3)
        return Code(f"{helper}{args[0].text}, {args[1].text})", BOOL, height_of(args) + 1)

    def op_merge(self, node: Node, args: list[Code]) -> Code:
        if not args:
            return Code("[]", LIST, 0)
        text = f"{self.h('_merge')}{self.arguments(node, args)}, {self.limits.max_array})"
        return Code(text, LIST, height_of(args) + 2)

    def op_length(self, node: Node, args: list[Code]) -> Code:
        return Code(f"_len({args[0].text})", NUM, args[0].height + 1)

    # --- iterators --------------------------------------------------------------------------------------

    def iteration(self, collection: str) -> tuple[str, str]:
        """(prefix, iterable) for a comprehension over ``collection``.

        An assignment expression may not appear in a comprehension's iterable, so a collection whose
        code binds temporaries is evaluated first and held in a fresh name.
        """
        if ":=" not in collection:
            return "", collection
        name = self.fresh()
        return f"({name} := {collection}), ", name

    def op_iterate(self, node: Node, args: list[Code]) -> Code:
        level = node.scope + 1
        body = args[1]
        indexed = re.search(rf"\bm{level}\b", body.text) is not None
        names = f"m{level}, d{level}" if indexed else f"d{level}"
        height = height_of(args) + 4
        if node.op == "reduce":
            initial = args[2].text if len(args) > 2 else "None"
            reduce, collection = self.h("_reduce"), self.h("_arr0")
            function = f"lambda m{level}, d{level}: {body.text}"
            text = f"{reduce}{collection}{args[0].text}), {function}, {initial})"
            return Code(text, ANY, height)
        if node.op in ("map", "filter"):
            prefix, iterable = self.iteration(f"{self.h('_arr0')}{args[0].text})")
            if indexed:
                iterable = f"enumerate({iterable})"
            if node.op == "map":
                text = f"[{body.text} for {names} in {iterable}]"
            else:
                text = f"[d{level} for {names} in {iterable} if {self.cond(body)}]"
            return Code(f"({prefix}{text})[1]" if prefix else text, LIST, height)
        # all / some / none: a small function with a plain loop beats any()/all() over a generator.
        collection = f"{self.h('_arr1')}{args[0].text})"
        iterable = "enumerate(_c)" if indexed else "_c"
        test = self.cond(body)
        if node.op == "all":
            lines = [f"_c = {collection}", "if not _c: return False", f"for {names} in {iterable}:"]
            lines += [f"    if not {test}: return False", "return True"]
        else:
            hit, miss = ("True", "False") if node.op == "some" else ("False", "True")
            lines = [f"_c = {collection}", f"for {names} in {iterable}:", f"    if {test}: return {hit}"]
            lines.append(f"return {miss}")
        return Code(self.function(node, lines), BOOL, 1)
