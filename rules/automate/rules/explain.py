"""Why a rule matched or not: a tree of sub-results, for the CLI, the logs and error locations.

``explain`` runs an instrumented twin of the compiled rule (same generated code, every node wrapped so a
:class:`Recorder` sees it start and finish). Because it is the same code, an explanation can never
disagree with ``evaluate``. Short-circuited branches show as not evaluated; nodes inside an iterator
body show their last result and how many times they ran; when evaluation fails, every node on the way
from the root to the failing one carries the error type, and the node that raised is marked.

Everything here is iterative, so explaining a thousand-level rule is as safe as evaluating it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, cast

from automate.errors import RuleEvaluationError, RuleLimitError

from .parser import ARRAY_NODE, LITERAL, Node, Program
from .semantics import truthy

__all__ = ["ExplainNode", "Explanation", "Recorder", "build_explanation", "try_recorded"]

_VALUE_CHARS: Final = 60
_MAX_JSON_CHARS: Final = 100_000
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
_LEAF_OPERATORS: Final = frozenset({"var", "val", "exists"})


class Recorder:
    """Collects node starts, results and failures while an instrumented rule runs.

    Generated code calls ``e(id)`` when a node starts and ``x(id, value)`` when it produced a value; a
    node still on ``stack`` after an exception is on the failing path, the last one raised.
    """

    __slots__ = ("counts", "errors", "origins", "stack", "values")

    def __init__(self) -> None:
        self.stack: list[int] = []
        self.values: dict[int, Any] = {}
        self.counts: dict[int, int] = {}
        self.errors: dict[int, str] = {}
        self.origins: set[int] = set()

    def e(self, node_id: int) -> None:
        """A node starts (returns None so the generated ``R.e(id) or (code)`` runs the code)."""
        self.stack.append(node_id)

    def x(self, node_id: int, value: Any) -> Any:
        """A node produced ``value``; returned unchanged so the surrounding code goes on with it."""
        self.stack.pop()
        self.values[node_id] = value
        self.counts[node_id] = self.counts.get(node_id, 0) + 1
        return value

    def fail(self, depth: int, error_type: str) -> int | None:
        """Record a failure of the nodes entered since ``depth``; returns the node that raised."""
        if len(self.stack) <= depth:
            return None
        origin = self.stack[-1]
        self.origins.add(origin)
        for node_id in self.stack[depth:]:
            self.errors[node_id] = error_type
        del self.stack[depth:]
        return origin


def try_recorded(recorder: Recorder, first: Callable[[], Any], *fallbacks: Callable[[int, Any], Any]) -> Any:
    """The ``try`` operator for instrumented code: like ``operators.try_each``, recording caught errors."""
    depth = len(recorder.stack)
    try:
        return first()
    except RuleLimitError:
        raise
    except RuleEvaluationError as error:
        recorder.fail(depth, error.type)
        last = error
    for index, fallback in enumerate(fallbacks):
        try:
            return fallback(index, last.error_object)
        except RuleLimitError:
            raise
        except RuleEvaluationError as error:
            recorder.fail(depth, error.type)
            last = error
    raise last


def _encoded(value: Any, most: int) -> str | None:
    """The first ``most`` characters (and a little more) of ``value`` as JSON, encoded lazily so that a
    value holding one large string a million times is not printed whole; None when JSON cannot carry it."""
    parts: list[str] = []
    size = 0
    try:
        for chunk in _ENCODER.iterencode(value):
            parts.append(chunk)
            size += len(chunk)
            if size > most:
                break
    except (TypeError, ValueError, RecursionError):
        return None
    return "".join(parts)


def _short(value: Any) -> str:
    text = _encoded(value, _VALUE_CHARS)
    if text is None:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 3] + "..."


def _json_safe(value: Any) -> Any:
    """The value itself when JSON can carry it (in at most ``_MAX_JSON_CHARS``), else a short description."""
    text = _encoded(value, _MAX_JSON_CHARS)
    if text is None:
        return f"<{type(value).__name__}>"
    if len(text) > _MAX_JSON_CHARS:
        return f"<{_short(value)} (longer than {_MAX_JSON_CHARS} characters as JSON)>"
    return value


@dataclass(frozen=True, slots=True, kw_only=True, eq=False, repr=False)
class ExplainNode:
    """One expression of the rule with what it produced.

    Attributes:
        path: JSON path of the expression inside the rule.
        operator: Operator name, or None for a constant.
        label: Short text: the operator, ``var "a.b"``, or the constant itself.
        evaluated: False when the expression never ran (short-circuit, empty iteration).
        value: Last value produced (None when not evaluated or failed).
        count: How many times it produced a value (more than one inside iterator bodies).
        error: Error type when the expression failed, or an error passed through it.
        raised: True on the expression where that error started.
        children: Sub-expressions, in argument order.
    """

    path: str
    operator: str | None
    label: str
    evaluated: bool
    value: Any = None
    count: int = 0
    error: str | None = None
    raised: bool = False
    children: tuple[ExplainNode, ...] = field(default=())

    def __repr__(self) -> str:
        # Not the dataclass repr: that one recurses into children, which a deep rule cannot afford.
        return f"ExplainNode(path={self.path!r}, label={self.label!r}, children={len(self.children)})"

    def render(self) -> str:
        """Indented text, one line per expression: ``+`` truthy, ``-`` falsy, ``!`` failed, ``.`` skipped."""
        lines: list[str] = []
        pending: list[tuple[ExplainNode, int]] = [(self, 0)]
        while pending:
            node, depth = pending.pop()
            lines.append("  " * depth + node._line())
            pending.extend((child, depth + 1) for child in reversed(node.children))
        return "\n".join(lines)

    def _line(self) -> str:
        if self.error is not None:
            where = " (raised here)" if self.raised else ""
            return f"! {self.label} => error {self.error!r}{where}  {self.path}"
        if not self.evaluated:
            return f". {self.label} (not evaluated)  {self.path}"
        mark = "+" if truthy(self.value) else "-"
        times = f" (x{self.count})" if self.count > 1 else ""
        if self.operator is None:
            return f"{mark} {self.label}{times}  {self.path}"
        return f"{mark} {self.label} => {_short(self.value)}{times}  {self.path}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; values JSON cannot carry become ``"<typename>"``."""
        built: dict[int, dict[str, Any]] = {}
        pending: list[tuple[ExplainNode, bool]] = [(self, False)]
        while pending:
            node, children_done = pending.pop()
            if not children_done:
                pending.append((node, True))
                pending.extend((child, False) for child in node.children)
                continue
            built[id(node)] = {
                "path": node.path,
                "operator": node.operator,
                "label": node.label,
                "evaluated": node.evaluated,
                "value": _json_safe(node.value),
                "count": node.count,
                "error": node.error,
                "raised": node.raised,
                "children": [built.pop(id(child)) for child in node.children],
            }
        return built[id(self)]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Explanation:
    """The outcome of a rule on one context, with the tree of sub-results behind it.

    Attributes:
        result: The rule's raw JSONLogic value (None when evaluation failed).
        matched: JSONLogic truthiness of ``result``: what ``evaluate`` answers.
        error: The evaluation error, when there was one (its ``path`` names the failing expression).
        root: The tree of sub-results.
    """

    result: Any
    matched: bool
    error: RuleEvaluationError | None
    root: ExplainNode

    def render(self) -> str:
        """A summary line followed by the indented tree."""
        if self.error is not None:
            head = f"error: {self.error.type!r} at {self.error.path}: {self.error.message}"
        else:
            head = f"{'matched' if self.matched else 'not matched'}: result {_short(self.result)}"
        return f"{head}\n{self.root.render()}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the whole explanation."""
        error = None
        if self.error is not None:
            error = {"type": self.error.type, "message": self.error.message, "path": self.error.path}
        return {
            "result": _json_safe(self.result),
            "matched": self.matched,
            "error": error,
            "tree": self.root.to_dict(),
        }


def _label(node: Node, nodes: list[Node]) -> str:
    if node.op == LITERAL:
        return _short(node.value)
    if node.op == ARRAY_NODE:
        return "array"
    if node.op == "preserve":
        return f"preserve {_short(node.value)}"
    if node.op in _LEAF_OPERATORS and all(nodes[child].is_literal for child in node.args):
        arguments = [nodes[child].value for child in node.args]
        shown = arguments[0] if len(arguments) == 1 else arguments
        return f"{node.op} {_short(shown)}"
    return node.op


def build_explanation(
    program: Program, recorder: Recorder, result: Any, error: RuleEvaluationError | None
) -> Explanation:
    """Assemble the tree from what ``recorder`` saw (children first, without recursion)."""
    nodes = program.nodes
    built: list[ExplainNode | None] = [None] * len(nodes)
    for node in reversed(nodes):
        hide_children = node.op in _LEAF_OPERATORS and all(nodes[child].is_literal for child in node.args)
        children = () if hide_children else tuple(cast(ExplainNode, built[child]) for child in node.args)
        built[node.id] = ExplainNode(
            path=node.path,
            operator=None if node.op == LITERAL else node.op,
            label=_label(node, nodes),
            evaluated=node.id in recorder.values,
            value=recorder.values.get(node.id),
            count=recorder.counts.get(node.id, 0),
            error=recorder.errors.get(node.id),
            raised=node.id in recorder.origins,
            children=children,
        )
    root = built[0]
    assert root is not None
    matched = error is None and truthy(result)
    return Explanation(result=result if error is None else None, matched=matched, error=error, root=root)
