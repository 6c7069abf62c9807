"""Turn a validated rule into Python source: one expression per node, compiled once with ``compile()``.

Why generated code: a tree-walking interpreter pays a dictionary dispatch and a function call per node
per evaluation; generated code pays neither. ``{"==": [{"var": "status"}, "active"]}`` becomes
``(_t1 == 'active' if type(_t1 := (d0.get('status') if type(d0) is dict else _vget(d0, ('status',))))
is str else _eq(_t1, 'active'))`` - plain bytecode on the common path, the full JavaScript semantics of
semantics.py on every other path.

Conventions of the generated source:

* ``d0`` is the context; an iterator body at scope ``L`` sees its item as ``dL`` and its index as ``mL``.
* Every node's code is atomic (a name, a literal, a call, a display or parenthesised), so a parent can
  embed it anywhere. Operands needed twice are bound once with ``:=`` to a fresh ``_tN``.
* Subtrees nested too deeply for CPython's parser are moved into their own functions (``_fN``), which
  take the scope variables as parameters; long ``if``/``and``/``or``/``??`` chains become functions made
  of statements. Together with the iterative parser this makes thousand-level rules compile.
* In explain mode every node is wrapped as ``R.x(id, R.e(id) or (code))`` so a recorder ``R`` sees which
  nodes ran, with what result, and where an error started.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from automate.errors import RuleError

from . import access, semantics
from .codegen_base import Code, height_of, runtime_namespace
from .codegen_ops import OperatorEmitters
from .limits import DEFAULT_LIMITS, RuleLimits
from .parser import ARRAY_NODE, Node, Program
from .spec import ANY, BOOL, LIST, NULL, TRUTHY_SAFE_KINDS, join_kinds

__all__ = ["GeneratedCode", "generate", "runtime_namespace"]

_CHUNK_HEIGHT: Final = 48
_EXPRESSION_CHAIN_LIMIT: Final = 8
_INLINE_MISSING_KEYS: Final = 16
_ROOT_INLINE_CHARS: Final = 4000


@dataclass(frozen=True, slots=True)
class GeneratedCode:
    """Source text plus the constants and functions it refers to."""

    source: str
    namespace: dict[str, Any]
    root_kind: str


class _Generator(OperatorEmitters):
    """Drives generation node by node and emits data access and control flow."""

    # --- driver -----------------------------------------------------------------------------------------

    def run(self) -> GeneratedCode:
        nodes = self.program.nodes
        for node in reversed(nodes):
            self.current = node
            children = [self.codes[child] for child in node.args]
            code = self.node(node, [child for child in children if child is not None])
            if self.explain:
                code = Code(f"R.x({node.id}, R.e({node.id}) or ({code.text}))", code.kind, code.height + 2)
            if code.height > _CHUNK_HEIGHT:
                code = Code(self.function(node, [f"return {code.text}"]), code.kind, 1)
            self.codes[node.id] = code
        root = self.codes[0]
        assert root is not None
        if len(root.text) > _ROOT_INLINE_CHARS:
            root = Code(self.function(nodes[0], [f"return {root.text}"]), root.kind, 1)
        parts = list(self.functions)
        # A metered rule gives each evaluation its work budget on entry: ``m0``, a one-item list the charging
        # twins of the helpers take first (functions moved out of line get it as a scope variable).
        budget = f"m0 = [{self.limits.max_work}]\n    " if self.metered else ""
        if self.explain:
            parts.append(f"def _explain(R, d0):\n    {budget}return {root.text}")
        else:
            parts.append(_guarded("_apply", root.text, budget))
            parts.append(_guarded("_evaluate", self.truth(root), budget))
        return GeneratedCode(source="\n\n".join(parts) + "\n", namespace=self.namespace, root_kind=root.kind)

    def node(self, node: Node, args: list[Code]) -> Code:
        if node.op == "":
            return self.literal(node.value)
        if node.op == ARRAY_NODE:
            return Code("[" + ", ".join(arg.text for arg in args) + "]", LIST, height_of(args) + 1)
        if node.op == "preserve":
            return self.literal(node.value)
        assert node.spec is not None
        if node.spec.custom:
            return self.custom_call(node, args)
        handler = getattr(self, _HANDLERS[node.op])
        result: Code = handler(node, args)
        return result

    def custom_call(self, node: Node, args: list[Code]) -> Code:
        name = self.custom_names.get(node.op)
        if name is None:
            name = self.constant(self.custom[node.op])
            self.custom_names[node.op] = name
        tuple_text = "(" + "".join(f"{arg.text}, " for arg in args) + ")"
        return Code(f"{self.h('_call')}{name}, {node.op!r}, {tuple_text})", ANY, height_of(args) + 2)

    # --- data access ------------------------------------------------------------------------------------

    def op_var(self, node: Node, args: list[Code]) -> Code:
        data = f"d{node.scope}"
        children = [self.program.nodes[child] for child in node.args]
        if not children:
            return Code(data, ANY, 0, simple=True)
        if not children[0].is_literal:
            extra = f", {args[1].text}" if len(args) > 1 else ""
            return Code(f"{self.h('_vdyn')}{data}, {args[0].text}{extra})", ANY, height_of(args) + 1)
        keys = access.var_keys(children[0].value)
        if len(args) == 1:
            return self.access(data, keys or (), 0)
        if keys is None:
            return Code(data, ANY, 0, simple=True)
        name = self.fresh()
        text = f"({args[1].text} if ({name} := _vfind({data}, {keys!r})) is _MISSING else {name})"
        return Code(text, ANY, args[1].height + 2)

    def scope_path(self, node: Node) -> tuple[str, tuple[str | int, ...]] | None:
        """Static (base expression, segments) of a ``val``/``exists`` path, or None if computed."""
        children = [self.program.nodes[child] for child in node.args]
        if not all(child.is_literal for child in children):
            return None
        values = [child.value for child in children]
        if len(values) == 1 and type(values[0]) is list:
            values = values[0]
        chain = self.chain(node.scope)
        base = chain[-1]
        if values and type(values[0]) is list:
            climb = values[0]
            levels = abs(int(semantics.js_number(climb[0]))) if climb else 0
            base = chain[max(len(chain) - 1 - levels, 0)]
            values = values[1:]
            if base.startswith("m"):
                base = f'{{"index": {base}}}'
        segments: list[str | int] = []
        for value in values:
            if type(value) is int or type(value) is str:
                segments.append(value)
            elif type(value) is list or type(value) is dict:
                return None
            else:
                segments.append(semantics.js_string(value))
        return base, tuple(segments)

    def chain_tuple(self, scope: int) -> str:
        return "(" + "".join(f"{name}, " for name in self.chain(scope)) + ")"

    def op_val(self, node: Node, args: list[Code]) -> Code:
        static = self.scope_path(node)
        if static is None:
            listed = "[" + ", ".join(arg.text for arg in args) + "]"
            text = f"{self.h('_valdyn')}{self.chain_tuple(node.scope)}, {listed})"
            return Code(text, ANY, height_of(args) + 2)
        base, segments = static
        if all(type(segment) is str for segment in segments):
            return self.access(base, tuple(str(segment) for segment in segments), 0)
        return Code(f"_valp({base}, {segments!r})", ANY, 2)

    def op_exists(self, node: Node, args: list[Code]) -> Code:
        static = self.scope_path(node)
        if static is None:
            listed = "[" + ", ".join(arg.text for arg in args) + "]"
            text = f"{self.h('_exdyn')}{self.chain_tuple(node.scope)}, {listed})"
            return Code(text, BOOL, height_of(args) + 2)
        base, segments = static
        return Code(f"_ex({base}, {segments!r})", BOOL, 2)

    def op_missing(self, node: Node, args: list[Code]) -> Code:
        data = f"d{node.scope}"
        children = [self.program.nodes[child] for child in node.args]
        if all(child.is_literal for child in children):
            keys = [child.value for child in children]
            if keys and type(keys[0]) is list:
                keys = keys[0]
            if len(keys) <= _INLINE_MISSING_KEYS and all(
                type(key) is str or type(key) is int for key in keys
            ):
                return self.missing_inline(data, keys)
            return Code(f"{self.h('_miss')}{data}, {self.constant(tuple(keys))})", LIST, 1)
        listed = "[" + ", ".join(arg.text for arg in args) + "]"
        return Code(f"{self.h('_miss')}{data}, {listed})", LIST, height_of(args) + 2)

    def missing_inline(self, data: str, keys: list[Any]) -> Code:
        """``[*((key,) if absent else ()), ...]``: no helper call, no loop frame."""
        if not keys:
            return Code("[]", LIST, 0)
        parts: list[str] = []
        tests: list[str] = []
        height = 0
        for key in keys:
            lookup = self.access(data, access.var_keys(key) or (), 0)
            name = self.fresh()
            absent = f"(({name} := {lookup.text}) is None or {name} == '')"
            parts.append(f"*(({key!r},) if {absent} else ())")
            tests.append(absent)
            height = max(height, lookup.height + 4)
        truth = "(" + " or ".join(tests) + ")"
        return Code("[" + ", ".join(parts) + "]", LIST, height, truth_text=truth)

    def op_missing_some(self, node: Node, args: list[Code]) -> Code:
        text = f"{self.h('_misssome')}d{node.scope}, {args[0].text}, {args[1].text})"
        return Code(text, LIST, height_of(args) + 1)

    # --- control ----------------------------------------------------------------------------------------

    def op_if(self, node: Node, args: list[Code]) -> Code:
        if not args:
            return Code("None", NULL, 0, simple=True)
        if len(args) == 1:
            return args[0]
        pairs = [(args[index], args[index + 1]) for index in range(0, len(args) - 1, 2)]
        fallback = args[-1] if len(args) % 2 else Code("None", NULL, 0)
        kind = join_kinds([then.kind for _, then in pairs] + [fallback.kind])
        if len(pairs) > _EXPRESSION_CHAIN_LIMIT:
            body = [f"if {self.cond(test)}: return {then.text}" for test, then in pairs]
            return Code(self.function(node, [*body, f"return {fallback.text}"]), kind, 1)
        text = fallback.text
        for test, then in reversed(pairs):
            text = f"{then.text} if {self.cond(test)} else {text}"
        return Code(f"({text})", kind, height_of(args) + len(pairs) + 1)

    def op_and(self, node: Node, args: list[Code]) -> Code:
        return self.logical(node, args, conjunction=True)

    def op_or(self, node: Node, args: list[Code]) -> Code:
        return self.logical(node, args, conjunction=False)

    def logical(self, node: Node, args: list[Code], *, conjunction: bool) -> Code:
        if not args:
            return Code("False", BOOL, 0, simple=True)
        if len(args) == 1:
            return args[0]
        kind = join_kinds([arg.kind for arg in args])
        word = "and" if conjunction else "or"
        if all(arg.kind in TRUTHY_SAFE_KINDS for arg in args[:-1]):
            return Code("(" + f" {word} ".join(arg.text for arg in args) + ")", kind, height_of(args) + 1)
        if len(args) > _EXPRESSION_CHAIN_LIMIT:
            stop = "not " if conjunction else ""
            body: list[str] = []
            for arg in args[:-1]:
                body += [f"_v = {arg.text}", f"if {stop}{self.cond(Code('_v', arg.kind, 0))}: return _v"]
            return Code(self.function(node, [*body, f"return {args[-1].text}"]), kind, 1)
        text = args[-1].text
        for arg in reversed(args[:-1]):
            if arg.kind in TRUTHY_SAFE_KINDS:
                text = f"({arg.text} {word} {text})"
            else:
                name = self.fresh()
                if conjunction:
                    text = f"({text} if _T({name} := {arg.text}) else {name})"
                else:
                    text = f"({name} if _T({name} := {arg.text}) else {text})"
        return Code(text, kind, height_of(args) + len(args))

    def op_coalesce(self, node: Node, args: list[Code]) -> Code:
        if not args:
            return Code("None", NULL, 0, simple=True)
        if len(args) == 1:
            return args[0]
        kind = join_kinds([arg.kind for arg in args])
        if len(args) > _EXPRESSION_CHAIN_LIMIT:
            body: list[str] = []
            for arg in args[:-1]:
                body += [f"_v = {arg.text}", "if _v is not None: return _v"]
            return Code(self.function(node, [*body, f"return {args[-1].text}"]), kind, 1)
        text = args[-1].text
        for arg in reversed(args[:-1]):
            name = self.fresh()
            text = f"{name} if ({name} := {arg.text}) is not None else {text}"
        return Code(f"({text})", kind, height_of(args) + len(args) + 1)

    def op_not(self, node: Node, args: list[Code]) -> Code:
        if not args:
            return Code("True", BOOL, 0, simple=True)
        return Code(f"(not {self.cond(args[0])})", BOOL, args[0].height + 2)

    def op_double_not(self, node: Node, args: list[Code]) -> Code:
        if not args:
            return Code("False", BOOL, 0, simple=True)
        return Code(self.truth(args[0]), BOOL, args[0].height + 2)

    def op_try(self, node: Node, args: list[Code]) -> Code:
        if not args:
            return Code("None", NULL, 0, simple=True)
        if len(args) == 1:
            return args[0]
        level = node.scope + 1
        branches = [f"lambda: {args[0].text}"] + [
            f"lambda m{level}, d{level}: {arg.text}" for arg in args[1:]
        ]
        helper = "_tryx(R, " if self.explain else "_try("
        return Code(helper + ", ".join(branches) + ")", ANY, height_of(args) + 2)

    def op_throw(self, node: Node, args: list[Code]) -> Code:
        return Code(f"{self.h('_throw')}{args[0].text})", ANY, args[0].height + 1)

    def op_log(self, node: Node, args: list[Code]) -> Code:
        return Code(f"{self.h('_log')}{args[0].text})", args[0].kind, args[0].height + 1)


def _guarded(name: str, expression: str, budget: str) -> str:
    return (
        f"def {name}(d0):\n"
        f"    {budget}try:\n"
        f"        return {expression}\n"
        f"    except _RuleError as _error:\n"
        f"        _locate(_error, d0)\n"
        f"        raise\n"
        f"    except RecursionError:\n"
        f"        raise _too_deep() from None\n"
        f"    except Exception as _error:\n"
        f"        raise _unexpected(_error) from _error"
    )


_HANDLERS: Final[dict[str, str]] = {
    "var": "op_var",
    "val": "op_val",
    "exists": "op_exists",
    "missing": "op_missing",
    "missing_some": "op_missing_some",
    "if": "op_if",
    "?:": "op_if",
    "and": "op_and",
    "or": "op_or",
    "??": "op_coalesce",
    "!": "op_not",
    "!!": "op_double_not",
    "try": "op_try",
    "throw": "op_throw",
    "log": "op_log",
    "+": "op_arithmetic",
    "-": "op_arithmetic",
    "*": "op_arithmetic",
    "/": "op_arithmetic",
    "%": "op_arithmetic",
    "max": "op_extremum",
    "min": "op_extremum",
    "cat": "op_cat",
    "substr": "op_substr",
    "in": "op_in",
    "merge": "op_merge",
    "length": "op_length",
    "map": "op_iterate",
    "filter": "op_iterate",
    "reduce": "op_iterate",
    "all": "op_iterate",
    "some": "op_iterate",
    "none": "op_iterate",
    **{name: "op_compare" for name in ("==", "!=", "===", "!==", "<", "<=", ">", ">=")},
}


def generate(program: Program, custom: Mapping[str, Callable[..., Any]], *, explain: bool,
             limits: RuleLimits = DEFAULT_LIMITS) -> GeneratedCode:
    """Generate the module source for ``program``.

    The fast module defines ``_apply(d0)`` and ``_evaluate(d0)``, which expect ``_locate``,
    ``_too_deep``, ``_unexpected`` and ``_RuleError`` in their namespace; the explain module defines
    ``_explain(R, d0)`` and expects ``_tryx``.
    """
    generator = _Generator(program, custom, explain, limits)
    generated = generator.run()
    generated.namespace["_RuleError"] = RuleError
    return generated
