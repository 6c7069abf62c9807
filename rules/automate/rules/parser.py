"""Validate a JSONLogic rule and turn it into a flat list of nodes for the code generator.

The walk is iterative (an explicit stack), so a rule nested a thousand levels deep is validated without
touching Python's recursion limit. Nodes are numbered in pre-order: a node's children always have larger
ids than the node, which lets the generator and ``explain`` process them bottom-up with a plain loop.
Literals are deep-copied while they are checked, so mutating the caller's dict after ``compile_rule``
cannot change a compiled rule.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from automate.errors import InvalidArgumentsError, NonJsonRuleError, RuleTooComplexError, UnknownOperatorError

from .spec import OperatorSpec

__all__ = [
    "ARRAY_NODE",
    "LITERAL",
    "MAX_RULE_DEPTH",
    "MAX_RULE_NODES",
    "Node",
    "Program",
    "key_path",
    "parse",
]

LITERAL: Final = ""
ARRAY_NODE: Final = "[]"
MAX_RULE_DEPTH: Final = 2000
MAX_RULE_NODES: Final = 20_000

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ITERATING: Final = frozenset({"map", "filter", "reduce", "all", "some", "none"})
_NEEDS_BODY: Final = frozenset({"map", "filter"})


@dataclass(slots=True, eq=False)
class Node:
    """One expression of the rule.

    Attributes:
        id: Pre-order index in ``Program.nodes``.
        path: JSON path of the expression inside the rule.
        op: Operator name, ``LITERAL`` for a constant, ``ARRAY_NODE`` for an array of expressions.
        value: The (copied) constant, for literals and ``preserve``.
        args: Child node ids, in argument order.
        scope: Iteration depth: 0 at the top, +1 inside each iterator body or ``try`` fallback.
        listed: The arguments were written as a JSON array.
        spread: A single computed argument whose array result is the argument list.
        spec: The operator's static description (None for literals and arrays).
    """

    id: int
    path: str
    op: str = LITERAL
    value: Any = None
    args: list[int] = field(default_factory=list)
    scope: int = 0
    listed: bool = True
    spread: bool = False
    spec: OperatorSpec | None = None

    @property
    def is_literal(self) -> bool:
        """Whether the node is a constant known at compile time."""
        return self.op == LITERAL


@dataclass(slots=True)
class Program:
    """A validated rule: nodes in pre-order, node 0 is the root."""

    nodes: list[Node]
    max_scope: int


def key_path(path: str, key: str) -> str:
    """Extend a JSON path by an object key (``$.and`` or ``$["=="]``)."""
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _plain_scalar(value: Any, path: str) -> Any:
    """Check a JSON scalar; subclasses of str/int/float are reduced to their base type."""
    value_type = type(value)
    if value_type is str or value_type is bool or value is None:
        return value
    if value_type is int:
        return value
    if value_type is float:
        if math.isfinite(value):
            return value
        raise NonJsonRuleError(f"{value!r} is not a JSON number", path=path)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _plain_scalar(float(value), path)
    raise NonJsonRuleError(f"a {type(value).__name__} is not a JSON value", path=path)


def copy_literal(value: Any, path: str, depth: int) -> tuple[Any, bool]:
    """Validate and deep-copy a JSON value; also report whether it contains an object.

    Raises:
        NonJsonRuleError: A value JSON cannot represent, with its path.
        RuleTooComplexError: The value nests deeper than ``MAX_RULE_DEPTH``.
    """
    value_type = type(value)
    if value_type is not list and value_type is not dict:
        if isinstance(value, (list, dict, Mapping)):
            raise NonJsonRuleError(f"a {value_type.__name__} is not a plain JSON array or object", path=path)
        return _plain_scalar(value, path), False
    has_object = False
    root: Any = [] if value_type is list else {}
    pending: list[tuple[Any, Any, str, int]] = [(value, root, path, depth)]
    while pending:
        source, target, source_path, level = pending.pop()
        if level > MAX_RULE_DEPTH:
            raise RuleTooComplexError(f"the rule nests deeper than {MAX_RULE_DEPTH} levels", path=source_path)
        if type(source) is dict:
            has_object = True
            for key, item in source.items():
                if type(key) is not str:
                    raise NonJsonRuleError(f"object key {key!r} is not a string", path=source_path)
                item_type = type(item)
                if item_type is list or item_type is dict:
                    fresh: Any = [] if item_type is list else {}
                    pending.append((item, fresh, key_path(source_path, key), level + 1))
                    target[key] = fresh
                else:
                    target[key] = _literal_item(item, source_path, key)
        else:
            for index, item in enumerate(source):
                item_type = type(item)
                if item_type is list or item_type is dict:
                    fresh = [] if item_type is list else {}
                    pending.append((item, fresh, f"{source_path}[{index}]", level + 1))
                    target.append(fresh)
                else:
                    target.append(_literal_item(item, source_path, index))
    return root, has_object


def _literal_item(item: Any, container_path: str, key: str | int) -> Any:
    item_type = type(item)
    if item_type is str or item_type is int or item_type is bool or item is None:
        return item
    item_path = f"{container_path}[{key}]" if type(key) is int else key_path(container_path, str(key))
    if isinstance(item, (list, dict, Mapping)):
        raise NonJsonRuleError(f"a {item_type.__name__} is not a plain JSON array or object", path=item_path)
    return _plain_scalar(item, item_path)


def _is_operator_object(value: Any) -> bool:
    return type(value) is dict and len(value) == 1


def parse(rule: Any, operators: Mapping[str, OperatorSpec]) -> Program:
    """Validate ``rule`` against the operator table and flatten it.

    Raises:
        UnknownOperatorError: An unknown operator key, or an object with several keys.
        InvalidArgumentsError: A wrong argument count or an argument form the operator cannot take.
        NonJsonRuleError: A value JSON cannot represent.
        RuleTooComplexError: Deeper than ``MAX_RULE_DEPTH`` or larger than ``MAX_RULE_NODES``.
    """
    nodes: list[Node] = []
    pending: list[tuple[Any, str, int | None, int, int]] = [(rule, "$", None, 0, 1)]
    max_scope = 0
    while pending:
        raw, path, parent, scope, depth = pending.pop()
        if depth > MAX_RULE_DEPTH:
            raise RuleTooComplexError(f"the rule nests deeper than {MAX_RULE_DEPTH} levels", path=path)
        if len(nodes) >= MAX_RULE_NODES:
            raise RuleTooComplexError(f"the rule has more than {MAX_RULE_NODES} expressions", path=path)
        node = Node(id=len(nodes), path=path, scope=scope)
        nodes.append(node)
        max_scope = max(max_scope, scope)
        if parent is not None:
            nodes[parent].args.append(node.id)
        raw_type = type(raw)
        if raw_type is dict and raw:
            _parse_operator(node, raw, operators, pending, depth)
        elif raw_type is list:
            node.value, has_object = copy_literal(raw, path, depth)
            if has_object:
                node.op, node.value = ARRAY_NODE, None
                for index in range(len(raw) - 1, -1, -1):
                    pending.append((raw[index], f"{path}[{index}]", node.id, scope, depth + 1))
        else:
            node.value, _ = copy_literal(raw, path, depth)
    _finish(nodes)
    return Program(nodes=nodes, max_scope=max_scope)


def _parse_operator(
    node: Node,
    raw: dict[Any, Any],
    operators: Mapping[str, OperatorSpec],
    pending: list[tuple[Any, str, int | None, int, int]],
    depth: int,
) -> None:
    if len(raw) != 1:
        keys = ", ".join(repr(key) for key in list(raw)[:5])
        raise UnknownOperatorError(
            f"an operator object has exactly one key, this one has {keys}", path=node.path
        )
    ((key, arguments),) = raw.items()
    if type(key) is not str:
        raise NonJsonRuleError(f"object key {key!r} is not a string", path=node.path)
    spec = operators.get(key)
    if spec is None:
        raise UnknownOperatorError(f"unknown operator {key!r}", path=node.path)
    node.op, node.spec = key, spec
    op_path = key_path(node.path, key)
    if key == "preserve":
        node.value, _ = copy_literal(arguments, op_path, depth + 1)
        return
    if type(arguments) is list:
        _check_count(spec, len(arguments), op_path)
        for index in range(len(arguments) - 1, -1, -1):
            child_scope = node.scope + 1 if spec.is_scoped(index) else node.scope
            pending.append((arguments[index], f"{op_path}[{index}]", node.id, child_scope, depth + 1))
        return
    node.listed = False
    if spec.needs_list:
        raise InvalidArgumentsError(f"{key} needs its arguments written as an array", path=op_path)
    node.spread = spec.spreads and _is_operator_object(arguments)
    if not node.spread:
        _check_count(spec, 1, op_path)
    child_scope = node.scope + 1 if spec.is_scoped(0) else node.scope
    pending.append((arguments, op_path, node.id, child_scope, depth + 1))


def _check_count(spec: OperatorSpec, count: int, path: str) -> None:
    if count < spec.min_args:
        raise InvalidArgumentsError(
            f"{spec.name} needs at least {_arguments(spec.min_args)}, got {count}", path=path
        )
    if spec.max_args is not None and count > spec.max_args:
        raise InvalidArgumentsError(
            f"{spec.name} takes at most {_arguments(spec.max_args)}, got {count}", path=path
        )


def _arguments(count: int) -> str:
    return f"{count} argument{'' if count == 1 else 's'}"


def _finish(nodes: list[Node]) -> None:
    """Fold arrays of constants into constants and apply the checks that need the children."""
    for node in reversed(nodes):
        children = [nodes[child] for child in node.args]
        if node.op == ARRAY_NODE and all(child.is_literal for child in children):
            node.op, node.value, node.args = LITERAL, [child.value for child in children], []
            continue
        if node.op in _ITERATING and children:
            if children[0].is_literal and children[0].value is None:
                raise InvalidArgumentsError(
                    f"{node.op} needs an array to iterate, got null", path=children[0].path
                )
            if (
                node.op in _NEEDS_BODY
                and len(children) > 1
                and children[1].is_literal
                and children[1].value is None
            ):
                raise InvalidArgumentsError(
                    f"{node.op} needs an expression to apply, got null", path=children[1].path
                )
