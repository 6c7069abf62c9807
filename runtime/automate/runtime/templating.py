"""Step input templates: Jinja2 in a sandbox, over ``event``, ``steps`` and ``execution`` only.

A step's ``input`` is a JSON document whose strings may be Jinja2 templates. :func:`check` validates them
when a workflow is applied (syntax, and which variables they may name); :func:`render` fills them in per
step. Rendering follows three rules:

* A string that is exactly one expression, ``"{{ steps.shape.output }}"``, becomes the expression's own
  JSON value (an object, a list, a number, ``true``, ``null``); any other template renders to a string,
  in which objects, lists, booleans and null are spelled as JSON.
* Secret references (``$secret:``, ``$env:``, ``$vault:``, ``$aws:``) are not Jinja: they pass through
  untouched and are resolved at call time by the secrets module. A reference must be written in the
  workflow's text itself, outside ``{{ }}`` and ``{% %}``; a rendered value may hold only references its
  template's text holds, so one that arrives through data (an event payload, a step's output, an
  expression's default) is refused: an event cannot make the runtime resolve a secret of its choosing.
* Templates see no globals (no ``range``, ``cycler``, ``namespace``...), a short list of pure filters,
  and no Python internals: the immutable sandbox refuses ``__class__``-style attributes and methods that
  mutate the data. Repetition (``*``, ``**``) is bounded; ``%`` formatting of strings is refused.
  Include, import and extends have nothing to load. The name in a secret reference must be written out
  (``$secret:{{ ... }}`` is refused by :func:`check`). The sandbox keeps the process environment and the
  interpreter out of reach; it does not bound the CPU time of a deliberately expensive template.

Compiled templates are cached (LRU) by their source, so rendering the same workflow again only evaluates.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import GeneratorType
from typing import Any, Final

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from automate.errors import AutomateError, TemplateError
from automate.secrets.references import REFERENCE, REFERENCE_START

__all__ = ["ROOTS", "SECRET_REFERENCE", "TemplateEngine", "check", "is_template", "render", "step_references"]

ROOTS: Final = frozenset({"event", "steps", "execution"})
"""The only variables a template may name."""

SECRET_REFERENCE: Final = REFERENCE_START
"""The start of a secret reference, resolved at call time rather than by the template engine."""

MAX_REPEAT: Final = 1_000_000
"""The largest string or list a template may build with ``*``, in items."""

MAX_EXPONENT: Final = 1024

_SAFE_FILTERS: Final = frozenset({
    "abs", "attr", "batch", "capitalize", "count", "d", "default", "dictsort", "filesizeformat", "first",
    "float", "groupby", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
    "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr", "slice", "sort",
    "string", "striptags", "sum", "title", "trim", "truncate", "unique", "upper", "urlencode", "wordcount",
})
_LOADING: Final = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
_TEMPLATED_REFERENCE: Final = re.compile(SECRET_REFERENCE.pattern + r"[^\s{]*\{[{%]")


def is_template(text: str) -> bool:
    """Whether ``text`` holds any Jinja2 syntax (a string without it is returned as it is)."""
    return "{" in text and ("{{" in text or "{%" in text or "{#" in text)


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, allow_nan=False)


def _finalize(value: Any) -> Any:
    """Spell what ``{{ }}`` prints inside a longer string the JSON way (``true``, ``null``, ``{"a": 1}``)."""
    if type(value) is GeneratorType:  # filters such as map and select return generators
        value = list(value)
    kind = type(value)
    if kind is dict or kind is list or kind is bool or value is None:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    return value


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with repetition bounded and string ``%`` formatting refused."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sized, count in ((left, right), (right, left)):
                if isinstance(sized, str | list | tuple) and isinstance(count, int) \
                        and len(sized) * count > MAX_REPEAT:
                    raise SecurityError(f"repetition would build more than {MAX_REPEAT} items")
        elif operator == "**":
            if isinstance(right, int) and abs(right) > MAX_EXPONENT and isinstance(left, int) \
                    and abs(left) > 1:
                raise SecurityError(f"exponent {right} is above the limit of {MAX_EXPONENT}")
        elif operator == "%" and isinstance(left, str):
            raise SecurityError("% formatting of strings is not available in templates; join with ~")
        return super().call_binop(context, operator, left, right)


def _environment() -> _Sandbox:
    env = _Sandbox(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,  # a YAML block scalar keeps its final newline
        finalize=_finalize,
    )
    env.globals.clear()
    env.filters = {name: f for name, f in env.filters.items() if name in _SAFE_FILTERS}
    env.filters["tojson"] = _tojson
    return env


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One template source, compiled once: either a single native expression or a text template."""

    expression: Callable[..., Any] | None
    template: JinjaTemplate | None
    references: Counter[str]  # the secret references written in its literal text (outside {{ }} and {% %})
    names: frozenset[str]  # variables the template reads from its scope
    steps: frozenset[str]  # step ids named statically (steps.<id>, steps["<id>"])
    problems: tuple[str, ...]  # things check() refuses beyond unknown names


class _Failure(AutomateError):
    """A render failure on its way up; each container level adds its key to ``where`` (raised as a
    TemplateError once it has its whole path)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where: list[str | int] = []


class _NotJson(AutomateError):
    """A template's value that JSON cannot hold (becomes a _Failure)."""


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


class TemplateEngine:
    """A sandboxed Jinja2 environment with its cache of compiled templates.

    The module functions use one shared engine; make your own to size the cache differently.

    Args:
        cache_size: How many distinct template sources stay compiled.
    """

    def __init__(self, *, cache_size: int = 4096) -> None:
        self._env = _environment()
        self._compiled = functools.lru_cache(maxsize=cache_size)(self._compile)

    # --- compiling ------------------------------------------------------------------------------------

    def _compile(self, source: str) -> _Compiled:
        tree = self._env.parse(source)  # TemplateSyntaxError propagates to the caller
        names = frozenset(find_undeclared_variables(tree))
        steps: set[str] = set()
        problems: list[str] = []
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            key: Any = None
            if isinstance(node, nodes.Getattr):
                key = node.attr
            elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
                key = node.arg.value
            if not isinstance(key, str):
                continue
            if key.startswith("_") and not problems:
                problems.append(f"{key!r}: names starting with '_' are Python internals, not available")
            target = node.node  # type: ignore[attr-defined]  # both node kinds have .node
            if "steps" in names and isinstance(target, nodes.Name) and target.name == "steps":
                steps.add(key)  # steps.<id> or steps["<id>"]
        if any(True for _ in tree.find_all(_LOADING)):
            problems.append("include, import and extends are not available: there are no templates to load")
        if any(n.name == "self" and n.ctx == "load" for n in tree.find_all(nodes.Name)):
            problems.append("'self' is not available in templates")
        if _TEMPLATED_REFERENCE.search(source):
            problems.append("a secret reference's name must be written out, not templated")
        references = Counter(match[0] for node in tree.find_all(nodes.TemplateData)
                             for match in REFERENCE.finditer(node.data))
        if len(SECRET_REFERENCE.findall(source)) > sum(references.values()) and not problems:
            problems.append("a secret reference must be written in the template's text, not inside {{ }} or "
                            "{% %}: a reference an expression makes could come from data")
        inner = _single_expression(source, tree)
        if inner is not None:
            expression = self._env.compile_expression(inner, undefined_to_none=False)
            return _Compiled(expression, None, references, names, frozenset(steps), tuple(problems))
        template = self._env.from_string(tree)
        return _Compiled(None, template, references, names, frozenset(steps), tuple(problems))

    # --- checking -------------------------------------------------------------------------------------

    def check(self, value: Any, path: str = "$") -> list[tuple[str, str]]:
        """Faults of every template string inside ``value`` (dicts and lists are searched), as
        ``(path, message)``: syntax errors, variables other than ``event``, ``steps`` and ``execution``,
        and template features the sandbox does not offer. An empty list means all is well."""
        faults: list[tuple[str, str]] = []
        pending: list[tuple[Any, str]] = [(value, path)]
        while pending:
            item, where = pending.pop()
            if isinstance(item, dict):
                pending.extend((v, _child(where, k)) for k, v in reversed(list(item.items())))
            elif isinstance(item, list):
                pending.extend((v, _child(where, i)) for i, v in reversed(list(enumerate(item))))
            elif isinstance(item, str) and is_template(item):
                try:
                    compiled = self._compiled(item)
                except TemplateSyntaxError as exc:
                    faults.append((where, f"template syntax error: {exc.message} (line {exc.lineno})"))
                    continue
                for name in sorted(compiled.names - ROOTS):
                    faults.append((where, f"unknown variable {name!r}: templates see only event, steps "
                                          "and execution"))
                faults.extend((where, problem) for problem in compiled.problems)
        return faults

    def step_references(self, value: Any) -> set[str]:
        """Step ids the templates inside ``value`` name statically (``steps.shape.output``); templates
        with syntax errors are skipped (:meth:`check` reports them)."""
        found: set[str] = set()
        pending: list[Any] = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, dict):
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
            elif isinstance(item, str) and is_template(item):
                try:
                    found |= self._compiled(item).steps
                except TemplateSyntaxError:
                    continue
        return found

    # --- rendering ------------------------------------------------------------------------------------

    def render(self, value: Any, scope: Mapping[str, Any], path: str = "$") -> Any:
        """``value`` with every template string rendered against ``scope``; other values unchanged.

        Args:
            value: A JSON-like document (a step's input).
            scope: The variables: ``event``, ``steps`` and ``execution``.
            path: Where ``value`` sits, to prefix the path named in errors (``$.steps[1].input``).

        Raises:
            TemplateError: A template failed (undefined variable, sandbox violation, syntax error, a value
                that is not JSON, a secret reference that came from data); the message names its path.
        """
        variables = dict(scope)
        try:
            return self._render(value, variables)
        except _Failure as failure:
            where = path
            for key in reversed(failure.where):
                where = _child(where, key)
            raise TemplateError(f"template at {where}: {failure.reason}") from failure.__cause__

    def _render(self, value: Any, variables: dict[str, Any]) -> Any:
        kind = type(value)
        if kind is str:
            return self._render_string(value, variables) if is_template(value) else value
        if kind is dict:
            out: dict[str, Any] = {}
            for key, item in value.items():
                try:
                    out[key] = self._render(item, variables)
                except _Failure as failure:
                    failure.where.append(str(key))
                    raise
            return out
        if kind is list:
            rendered: list[Any] = []
            for index, item in enumerate(value):
                try:
                    rendered.append(self._render(item, variables))
                except _Failure as failure:
                    failure.where.append(index)
                    raise
            return rendered
        return value

    def _render_string(self, source: str, variables: dict[str, Any]) -> Any:
        try:
            compiled = self._compiled(source)
            if compiled.problems:
                raise _Failure(compiled.problems[0])
            if compiled.expression is not None:
                result = _jsonable(compiled.expression(variables))
                if not _references_of(result) <= compiled.references:
                    raise _Failure("the value brings a secret reference from data; references must be "
                                   "written in the workflow")
                return result
            assert compiled.template is not None
            text = compiled.template.render(variables)
        except _Failure:
            raise
        except TemplateSyntaxError as exc:
            raise _Failure(f"syntax error: {exc.message} (line {exc.lineno})") from exc
        except UndefinedError as exc:
            raise _Failure(f"undefined: {exc.message}") from exc
        except SecurityError as exc:
            raise _Failure(f"not allowed: {exc.message}") from exc
        except _NotJson as exc:
            raise _Failure(f"the expression's value is {exc}, not JSON") from exc
        except RecursionError as exc:
            raise _Failure("the value nests too deeply") from exc
        except Exception as exc:
            raise _Failure(f"{type(exc).__name__}: {exc}") from exc
        if "$" in text and not _references_of(text) <= compiled.references:
            raise _Failure("the text brings a secret reference from data; references must be written in "
                           "the workflow")
        return text


def _single_expression(source: str, tree: nodes.Template) -> str | None:
    """The inner text of ``source`` when it is exactly one ``{{ expression }}`` (surrounding
    whitespace allowed), else None."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    expressions = 0
    for node in tree.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            if node.data.strip():
                return None
        else:
            expressions += 1
    stripped = source.strip()
    if expressions != 1 or not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None  # e.g. a comment beside the expression: render as text
    inner = stripped[2:-2]
    if inner[:1] in ("-", "+"):  # whitespace control, as the lexer reads it
        inner = inner[1:]
    if inner[-1:] in ("-", "+"):
        inner = inner[:-1]
    return inner


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data: the same object when it already is; tuples become lists, str and int
    subclasses their base types. Undefined values raise their own error."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        raise _NotJson("a non-finite number")
    if kind is dict:
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            if type(key) is not str:
                raise _NotJson(f"an object with the non-string key {key!r}")
            converted = _jsonable(item)
            if converted is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = converted
        return value if changed is None else changed
    if kind is list or kind is tuple or kind is GeneratorType:
        items = [_jsonable(item) for item in value]
        if kind is list and all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError (or SecurityError) with its reason
        raise _NotJson("undefined")
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _jsonable(float(value))
    raise _NotJson(f"a {kind.__name__}")


def _references_of(value: Any) -> Counter[str]:
    """The secret references inside a JSON value's strings (keys too), each as often as it appears."""
    found: Counter[str] = Counter()
    if isinstance(value, str):
        if "$" in value:
            found.update(match[0] for match in REFERENCE.finditer(value))
            found["$incomplete"] += len(SECRET_REFERENCE.findall(value)) - sum(found.values())
    elif isinstance(value, dict):
        for key, item in value.items():
            found += _references_of(key) + _references_of(item)
    elif isinstance(value, list):
        for item in value:
            found += _references_of(item)
    return found


@functools.cache
def _default_engine() -> TemplateEngine:
    return TemplateEngine()


def check(value: Any, path: str = "$") -> list[tuple[str, str]]:
    """Faults of the templates inside ``value`` as ``(path, message)``; see :meth:`TemplateEngine.check`."""
    return _default_engine().check(value, path)


def step_references(value: Any) -> set[str]:
    """Step ids named by the templates inside ``value``; see :meth:`TemplateEngine.step_references`."""
    return _default_engine().step_references(value)


def render(value: Any, scope: Mapping[str, Any], path: str = "$") -> Any:
    """Render every template string inside ``value``; see :meth:`TemplateEngine.render`."""
    return _default_engine().render(value, scope, path)
