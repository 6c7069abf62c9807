"""Shared machinery of the code generator: the helper namespace, the code fragments, the utilities.

See codegen.py for the conventions of the generated source. This module holds what every emitter needs:
the names generated code may call (``runtime_namespace``), the fragment type ``Code`` (text plus static
kind, nesting height and literal value) and the base class with fresh names, constants, operand binding,
truthiness tests, out-of-line functions, literals and path lookups.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import access, operators, semantics
from .limits import RuleLimits, metered_helpers
from .parser import Node, Program
from .spec import ANY, BOOL, LIST, NULL, NUM, STR, TRUTHY_SAFE_KINDS

__all__ = ["NOT_LITERAL", "Code", "GeneratorBase", "height_of", "runtime_namespace"]

NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCOPE_VARIABLE: Final = re.compile(r"\b([dm])([0-9]+)\b")


def runtime_namespace() -> dict[str, Any]:
    """The helper names generated code may call, bound to their implementations."""
    return {
        "_T": semantics.truthy,
        "_eq": semantics.loose_eq,
        "_seq": semantics.strict_eq,
        "_lt": semantics.loose_lt,
        "_le": semantics.loose_le,
        "_gt": semantics.loose_gt,
        "_ge": semantics.loose_ge,
        "_tonum": semantics.to_number,
        "_NUM": (int, float),
        "_MISSING": access.MISSING,
        "_vget": access.var_get,
        "_vfind": access.var_find,
        "_vdyn": access.var_dynamic,
        "_valp": access.val_path,
        "_valdyn": access.val_dynamic,
        "_ex": access.exists_path,
        "_exdyn": access.exists_dynamic,
        "_miss": access.missing,
        "_misssome": access.missing_some,
        "_add": operators.add,
        "_addn": operators.add_many,
        "_sub": operators.sub,
        "_subn": operators.sub_many,
        "_neg": operators.negate,
        "_mul": operators.mul,
        "_muln": operators.mul_many,
        "_div": operators.div,
        "_divn": operators.div_many,
        "_recip": operators.reciprocal,
        "_mod": operators.mod,
        "_modn": operators.mod_many,
        "_max": operators.maximum,
        "_min": operators.minimum,
        "_spread": operators.spread,
        "_cat": operators.cat,
        "_substr": operators.substr,
        "_in": operators.js_in,
        "_merge": operators.merge,
        "_len": operators.length,
        "_arr0": operators.array_or_empty,
        "_arr1": operators.array_required,
        "_reduce": operators.reduce_items,
        "_try": operators.try_each,
        "_throw": operators.throw,
        "_log": operators.log_value,
        "_call": operators.call_custom,
        "_cp": operators.copy_json,
    }


class _NotLiteral:
    __slots__ = ()


NOT_LITERAL: Final[Any] = _NotLiteral()


@dataclass(slots=True)
class Code:
    """Generated text of one node: its static kind, nesting height, and whether it may be repeated."""

    text: str
    kind: str
    height: int
    simple: bool = False
    value: Any = NOT_LITERAL
    truth_text: str | None = None  # a cheaper expression with the same truthiness, when one exists


def height_of(args: list[Code]) -> int:
    """Deepest nesting among ``args`` (the generator moves code out of line past a limit)."""
    return max((arg.height for arg in args), default=0)


_ITERATORS: Final = frozenset({"map", "filter", "reduce", "all", "some", "none"})


class GeneratorBase:
    """State and utilities shared by all emitters; one instance generates one module.

    A rule with iterators is *metered* (limits.py): its iterator bodies call the charging twins of the
    helpers, through :meth:`h`.
    """

    def __init__(self, program: Program, custom: Mapping[str, Callable[..., Any]], explain: bool,
                 limits: RuleLimits) -> None:
        self.program = program
        self.custom = custom
        self.explain = explain
        self.limits = limits
        self.metered = any(node.op in _ITERATORS for node in program.nodes)
        self.current: Node = program.nodes[0]  # the node being generated
        self.namespace: dict[str, Any] = runtime_namespace()
        if self.metered:
            self.namespace.update(metered_helpers(self.namespace))
        self.functions: list[str] = []
        self.codes: list[Code | None] = [None] * len(program.nodes)
        self.counter = 0
        self.custom_names: dict[str, str] = {}

    # --- small utilities --------------------------------------------------------------------------------

    def h(self, helper: str) -> str:
        """The opening of a call of ``helper`` (``_cat(``): inside an iterator body of a metered rule, of its
        charging twin, given the evaluation's budget first (``_catw(m0, ``)."""
        return f"{helper}w(m0, " if self.metered and self.current.scope > 0 else f"{helper}("

    @property
    def charged(self) -> bool:
        """Whether the node being generated is inside an iterator body of a metered rule."""
        return self.metered and self.current.scope > 0

    def fresh(self, prefix: str = "_t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any) -> str:
        name = self.fresh("_k")
        self.namespace[name] = value
        return name

    def chain(self, scope: int) -> list[str]:
        names = ["d0"]
        for level in range(1, scope + 1):
            names += [f"m{level}", f"d{level}"]
        return names

    def bind(self, code: Code) -> tuple[str, str]:
        """(first use, later uses) of an operand that is needed twice."""
        if code.simple:
            return code.text, code.text
        name = self.fresh()
        return f"({name} := {code.text})", name

    @staticmethod
    def truth(code: Code) -> str:
        if code.truth_text is not None:
            return code.truth_text
        if code.kind == BOOL:
            return code.text
        if code.kind in TRUTHY_SAFE_KINDS:
            return f"(not not {code.text})"
        return f"_T({code.text})"

    @staticmethod
    def cond(code: Code) -> str:
        """A Python condition with JavaScript truthiness."""
        if code.truth_text is not None:
            return code.truth_text
        return code.text if code.kind in TRUTHY_SAFE_KINDS else f"_T({code.text})"

    def function(self, node: Node, body: list[str]) -> str:
        """Move code into its own function taking just the scope variables it mentions.

        Scanning the text may also pick up a name inside a string literal; that is harmless, because
        every ``dL`` of an enclosing scope is bound where the call is made, and an enclosing iterator
        binds ``mL`` whenever its body text (which contains this call) mentions it.
        """
        name = f"_f{node.id}_{self.fresh('')}"
        used = {(int(level), kind) for kind, level in _SCOPE_VARIABLE.findall("\n".join(body))}
        names = [f"{kind}{level}" for level, kind in sorted(used) if level <= node.scope]
        params = ", ".join((["R"] if self.explain else []) + names)
        lines = [f"def {name}({params}):"] + [f"    {line}" for line in body]
        self.functions.append("\n".join(lines))
        return f"{name}({params})"

    def literal(self, value: Any) -> Code:
        value_type = type(value)
        if value is None:
            return Code("None", NULL, 0, simple=True, value=None)
        if value_type is bool:
            return Code(repr(value), BOOL, 0, simple=True, value=value)
        if value_type is int or value_type is float:
            text = repr(value)
            return Code(f"({text})" if value < 0 else text, NUM, 0, simple=True, value=value)
        if value_type is str:
            return Code(repr(value), STR, 0, simple=True, value=value)
        if not value:
            return Code("[]" if value_type is list else "{}", LIST if value_type is list else ANY, 0)
        name = self.constant(value)
        flat = value_type is list and all(type(item) not in (list, dict) for item in value)
        text = f"{name}.copy()" if flat and not self.charged else f"{self.h('_cp')}{name})"
        return Code(text, LIST if value_type is list else ANY, 1)

    def arguments(self, node: Node, args: list[Code]) -> str:
        """A tuple expression holding the (eagerly evaluated) arguments."""
        if node.spread:
            return f"_spread({args[0].text})"
        if len(args) == 1:
            return f"({args[0].text},)"
        return "(" + ", ".join(arg.text for arg in args) + ")"

    def access(self, base: str, keys: tuple[str, ...], height: int) -> Code:
        if not keys:
            return Code(base, ANY, height, simple=NAME.fullmatch(base) is not None)
        if len(keys) > 3 or NAME.fullmatch(base) is None:
            return Code(f"_vget({base}, {keys!r})", ANY, height + 1)
        text = base
        for position, key in enumerate(keys):
            if position == 0:
                text = f"({text}.get({key!r}) if type({text}) is dict else _vget({text}, ({key!r},)))"
            else:
                name = self.fresh()
                text = (
                    f"({name}.get({key!r}) if type({name} := {text}) is dict else _vget({name}, ({key!r},)))"
                )
        return Code(text, ANY, height + 2 * len(keys))
