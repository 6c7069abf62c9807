"""The static shape of every built-in operator: argument counts, argument form, result kind, scopes.

The parser checks rules against this table before any code is generated, so a bad rule fails at
``compile_rule`` with a path rather than at evaluation with a confusing error. The result kinds let the
code generator skip JavaScript-truthiness checks where Python's own truthiness already agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "ANY",
    "BOOL",
    "BUILTIN_OPERATORS",
    "LIST",
    "NULL",
    "NUM",
    "SAFE",
    "STR",
    "TRUTHY_SAFE_KINDS",
    "OperatorSpec",
    "custom_spec",
    "join_kinds",
]

# Static result kinds. Every kind except ANY has Python truthiness equal to JavaScript truthiness
# (they exclude objects, whose empty form is truthy in JavaScript, and NaN, which the engine never yields).
BOOL: Final = "bool"
NUM: Final = "num"
STR: Final = "str"
NULL: Final = "null"
LIST: Final = "list"
SAFE: Final = "safe"
ANY: Final = "any"
TRUTHY_SAFE_KINDS: Final = frozenset({BOOL, NUM, STR, NULL, LIST, SAFE})


def join_kinds(kinds: list[str]) -> str:
    """The kind of a value that may come from any of several expressions."""
    unique = set(kinds)
    if len(unique) == 1:
        return unique.pop()
    if unique <= TRUTHY_SAFE_KINDS:
        return SAFE
    return ANY


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorSpec:
    """How an operator may be written and what it produces.

    Attributes:
        name: The operator key.
        min_args: Fewest arguments accepted when they are written as an array.
        max_args: Most arguments accepted when written as an array (None: no limit).
        needs_list: The arguments must be written as a JSON array (lazy and variadic operators).
        spreads: A single computed argument that yields an array becomes the whole argument list.
        kind: Static kind of the result (see module constants).
        scope_start: First argument evaluated in a nested scope (iterator bodies, try fallbacks).
        scope_stop: One past the last scoped argument (None: to the end).
        custom: Registered at run time rather than built in.
    """

    name: str
    min_args: int = 0
    max_args: int | None = None
    needs_list: bool = False
    spreads: bool = False
    kind: str = ANY
    scope_start: int | None = None
    scope_stop: int | None = None
    custom: bool = False

    def is_scoped(self, index: int) -> bool:
        """Whether argument ``index`` runs in a nested scope."""
        if self.scope_start is None or index < self.scope_start:
            return False
        return self.scope_stop is None or index < self.scope_stop


def custom_spec(name: str) -> OperatorSpec:
    """Spec of a registered operator: any number of eagerly evaluated arguments, any result."""
    return OperatorSpec(name=name, custom=True)


def _table(*specs: OperatorSpec) -> dict[str, OperatorSpec]:
    return {spec.name: spec for spec in specs}


_COMPARISONS: Final = ("==", "!=", "===", "!==", "<", "<=", ">", ">=")
_ITERATORS: Final = ("map", "filter")
_QUANTIFIERS: Final = ("all", "some", "none")

BUILTIN_OPERATORS: Final[dict[str, OperatorSpec]] = _table(
    OperatorSpec(name="var", max_args=2),
    OperatorSpec(name="val"),
    OperatorSpec(name="exists", kind=BOOL),
    OperatorSpec(name="missing", kind=LIST),
    OperatorSpec(name="missing_some", min_args=2, max_args=2, kind=LIST),
    OperatorSpec(name="if", needs_list=True),
    OperatorSpec(name="?:", needs_list=True),
    OperatorSpec(name="and", needs_list=True),
    OperatorSpec(name="or", needs_list=True),
    OperatorSpec(name="??"),
    OperatorSpec(name="!", max_args=1, kind=BOOL),
    OperatorSpec(name="!!", max_args=1, kind=BOOL),
    *(OperatorSpec(name=name, min_args=2, needs_list=True, kind=BOOL) for name in _COMPARISONS),
    OperatorSpec(name="+", spreads=True, kind=NUM),
    OperatorSpec(name="-", min_args=1, spreads=True, kind=NUM),
    OperatorSpec(name="*", spreads=True, kind=NUM),
    OperatorSpec(name="/", min_args=1, spreads=True, kind=NUM),
    OperatorSpec(name="%", min_args=2, spreads=True, kind=NUM),
    OperatorSpec(name="max", min_args=1, spreads=True, kind=NUM),
    OperatorSpec(name="min", min_args=1, spreads=True, kind=NUM),
    OperatorSpec(name="cat", spreads=True, kind=STR),
    OperatorSpec(name="substr", min_args=1, max_args=3, kind=STR),
    OperatorSpec(name="in", min_args=2, max_args=2, kind=BOOL),
    OperatorSpec(name="merge", kind=LIST),
    OperatorSpec(name="length", min_args=1, max_args=1, kind=NUM),
    *(
        OperatorSpec(
            name=name, min_args=2, max_args=2, needs_list=True, kind=LIST, scope_start=1, scope_stop=2
        )
        for name in _ITERATORS
    ),
    *(
        OperatorSpec(
            name=name, min_args=2, max_args=2, needs_list=True, kind=BOOL, scope_start=1, scope_stop=2
        )
        for name in _QUANTIFIERS
    ),
    OperatorSpec(name="reduce", min_args=2, max_args=3, needs_list=True, scope_start=1, scope_stop=2),
    OperatorSpec(name="try", scope_start=1),
    OperatorSpec(name="throw", min_args=1, max_args=1),
    OperatorSpec(name="log", min_args=1, max_args=1),
    OperatorSpec(name="preserve"),
)
