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
  mutate the data; ``%`` formatting of strings is refused. Include, import and extends have nothing to
  load. The name in a secret reference must be written out (``$secret:{{ ... }}`` is refused by
  :func:`check`).
* Every render is bounded (:mod:`automate.runtime.sandbox`): the size of each string an operation builds,
  of the rendered input, of numbers, the work and the nesting of the render, and its time; past one it
  fails with :class:`~automate.errors.TemplateLimitError` (``template.limit``). :meth:`render_async`
  renders a template on a thread of its own, so a render never holds the worker's event loop, unless the
  template only reads the scope and computes with conditions, arithmetic and the filters that cost the
  same whatever the data (``_IN_PLACE``: most inputs); those render in place, since handing them to a
  thread costs several times the render itself.

Compiled templates are cached (LRU) by their source, so rendering the same workflow again only evaluates.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import GeneratorType
from typing import TYPE_CHECKING, Any, Final

from jinja2 import Template as JinjaTemplate
from jinja2 import TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.meta import find_undeclared_variables

from automate.errors import AutomateError, TemplateError, TemplateLimitError
from automate.runtime.sandbox import Sandbox, finalize, loop_items_ast
from automate.runtime.template_limits import DEFAULT_LIMITS, TemplateLimits, current, rendering, weigh
from automate.secrets.references import REFERENCE, REFERENCE_START

if TYPE_CHECKING:
    from automate.config import Settings

__all__ = ["ROOTS", "SECRET_REFERENCE", "TemplateEngine", "TemplateLimits", "check", "is_template", "render",
           "render_async", "step_references"]

ROOTS: Final = frozenset({"event", "steps", "execution"})
"""The only variables a template may name."""

SECRET_REFERENCE: Final = REFERENCE_START
"""The start of a secret reference, resolved at call time rather than by the template engine."""

_RENDER_THREADS: Final = 4
_GRACE_S: Final = 1.0  # how long past its time limit the event loop waits for a render that has not stopped
_LOADING: Final = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
# What renders in place (every other node sends its template to a render thread): reading the scope,
# constants, conditions, arithmetic that cannot multiply data (no * or **), and the filters and tests that
# cost the same, or one C-speed pass, whatever the data: so a value is never much larger than the event
# and step outputs it comes from. Not here: loops, macros, calls, list and dict literals, and every filter
# that walks or sorts a sequence ("ab" * 450000 makes one from a short text, and sort, unique, groupby...
# on it run for seconds in one step, between the sandbox's time checks).
_IN_PLACE: Final = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.Name, nodes.Getattr,
                    nodes.Getitem, nodes.Slice, nodes.Const, nodes.CondExpr, nodes.Compare, nodes.Operand,
                    nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub, nodes.Div,
                    nodes.FloorDiv, nodes.Mod, nodes.Concat, nodes.Filter, nodes.Test)
_IN_PLACE_FILTERS: Final = frozenset({"default", "d", "int", "float", "abs", "round", "length", "count",
                                      "lower", "upper", "trim", "capitalize", "title"})
_IN_PLACE_TESTS: Final = frozenset({"defined", "undefined", "none", "number", "integer", "float", "string",
                                    "boolean", "true", "false", "mapping", "odd", "even", "divisibleby",
                                    "eq", "ne", "lt", "le", "gt", "ge", "==", "!=", "<", "<=", ">", ">="})


def _renders_in_place(tree: nodes.Template) -> bool:
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _IN_PLACE):
            return False
        if isinstance(node, nodes.Filter) and node.name not in _IN_PLACE_FILTERS:
            return False
        if isinstance(node, nodes.Test) and node.name not in _IN_PLACE_TESTS:
            return False
    return True
_TEMPLATED_REFERENCE: Final = re.compile(SECRET_REFERENCE.pattern + r"[^\s{]*\{[{%]")


def is_template(text: str) -> bool:
    """Whether ``text`` holds any Jinja2 syntax (a string without it is returned as it is)."""
    return "{" in text and ("{{" in text or "{%" in text or "{#" in text)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One template source, compiled once: either a single native expression or a text template."""

    expression: Callable[..., Any] | None
    template: JinjaTemplate | None
    references: Counter[str]  # the secret references written in its literal text (outside {{ }} and {% %})
    names: frozenset[str]  # variables the template reads from its scope
    steps: frozenset[str]  # step ids named statically (steps.<id>, steps["<id>"])
    problems: tuple[str, ...]  # things check() refuses beyond unknown names
    in_place: bool  # its work is bounded by its text (see _IN_PLACE): rendered without a thread


class _Failure(AutomateError):
    """A render failure on its way up; each container level adds its key to ``where`` (raised as a
    TemplateError, or a TemplateLimitError when ``limit`` names one, once it has its whole path)."""

    def __init__(self, reason: str, *, limit: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit
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
        self._env = Sandbox(keep_trailing_newline=True,  # a YAML block scalar keeps its final newline
                            finalize=finalize)
        self._compiled = functools.lru_cache(maxsize=cache_size)(self._compile)
        self._pool: ThreadPoolExecutor | None = None

    # --- compiling ------------------------------------------------------------------------------------

    def _compile(self, source: str) -> _Compiled:
        try:
            with rendering(DEFAULT_LIMITS):  # constant folding runs filters: under the default limits
                return self._compile_tree(source)
        except (RecursionError, MemoryError):
            raise TemplateSyntaxError("the template nests too deeply", 1) from None

    def _compile_tree(self, source: str) -> _Compiled:
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
        in_place = _renders_in_place(tree)
        inner = _single_expression(source, tree)
        if inner is not None:
            expression = self._env.compile_expression(inner, undefined_to_none=False)
            return _Compiled(expression, None, references, names, frozenset(steps), tuple(problems), in_place)
        template = self._env.from_string(loop_items_ast(tree))
        return _Compiled(None, template, references, names, frozenset(steps), tuple(problems), in_place)

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

    def render(self, value: Any, scope: Mapping[str, Any], path: str = "$", *,
               limits: TemplateLimits = DEFAULT_LIMITS) -> Any:
        """``value`` with every template string rendered against ``scope``; other values unchanged.

        Renders on the calling thread; a worker on an event loop uses :meth:`render_async`.

        Args:
            value: A JSON-like document (a step's input).
            scope: The variables: ``event``, ``steps`` and ``execution``.
            path: Where ``value`` sits, to prefix the path named in errors (``$.steps[1].input``).
            limits: What the render may do (:class:`TemplateLimits`).

        Raises:
            TemplateError: A template failed (undefined variable, sandbox violation, syntax error, a value
                that is not JSON, a secret reference that came from data); the message names its path.
            TemplateLimitError: A template went past one of ``limits``.
        """
        variables = dict(scope)
        try:
            with rendering(limits):
                return self._render(value, variables)
        except _Failure as failure:
            where = path
            for key in reversed(failure.where):
                where = _child(where, key)
            if failure.limit is not None:
                raise TemplateLimitError(f"template at {where}: {failure.reason}",
                                         limit=failure.limit) from None
            raise TemplateError(f"template at {where}: {failure.reason}") from failure.__cause__

    async def render_async(self, value: Any, scope: Mapping[str, Any], path: str = "$", *,
                           limits: TemplateLimits = DEFAULT_LIMITS) -> Any:
        """:meth:`render` on a thread of the engine's own, so that the event loop goes on meanwhile; the
        loop waits at most the time limit (and a second's grace) for a render that does not stop itself,
        counted from the render's start (waiting for a free thread is not the render's time). Templates
        that only read the scope and use conditions, arithmetic and constant-cost filters (``_IN_PLACE``)
        render in place: their work is bounded by their text, and a thread's round trip costs more.

        Raises:
            TemplateError: As :meth:`render`.
            TemplateLimitError: As :meth:`render`; ``limit="time"`` also when the render did not end in time.
        """
        if self._in_place(value):
            return self.render(value, scope, path, limits=limits)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_RENDER_THREADS, thread_name_prefix="automate-render")
        loop = asyncio.get_running_loop()
        started = asyncio.Event()

        def run() -> Any:
            loop.call_soon_threadsafe(started.set)
            return self.render(value, scope, path, limits=limits)

        job = loop.run_in_executor(self._pool, run)
        waiting = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait({job, waiting}, return_when=asyncio.FIRST_COMPLETED)
            return await asyncio.wait_for(job, limits.timeout + _GRACE_S)
        except TimeoutError:
            raise TemplateLimitError(f"template at {path}: the render ran past its time limit of "
                                     f"{limits.timeout}s", limit="time") from None
        finally:
            waiting.cancel()

    def _in_place(self, value: Any) -> bool:
        """Whether every template inside ``value`` renders in place (one that does not compile fails fast
        in place)."""
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, str):
                if is_template(item):
                    try:
                        if not self._compiled(item).in_place:
                            return False
                    except TemplateSyntaxError:
                        continue
            elif isinstance(item, dict):
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
        return True

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
                budget = current()
                budget.output(weigh(result, budget, budget.output_left, "the expression's value", "output"))
                if not _references_of(result) <= compiled.references:
                    raise _Failure("the value brings a secret reference from data; references must be "
                                   "written in the workflow")
                return result
            assert compiled.template is not None
            budget = current()
            parts: list[str] = []
            for part in compiled.template.generate(variables):
                budget.output(len(part))
                parts.append(part)
            text = "".join(parts)
        except _Failure:
            raise
        except TemplateLimitError as exc:
            raise _Failure(exc.message, limit=exc.limit) from None
        except TemplateSyntaxError as exc:
            raise _Failure(f"syntax error: {exc.message} (line {exc.lineno})") from exc
        except UndefinedError as exc:
            raise _Failure(f"undefined: {exc.message}") from exc
        except SecurityError as exc:
            raise _Failure(f"not allowed: {exc.message}") from exc
        except _NotJson as exc:
            raise _Failure(f"the expression's value is {exc}, not JSON") from exc
        except RecursionError:
            raise _Failure("the template or its value nests too deeply", limit="depth") from None
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


def render(value: Any, scope: Mapping[str, Any], path: str = "$", *,
           limits: TemplateLimits = DEFAULT_LIMITS) -> Any:
    """Render every template string inside ``value``; see :meth:`TemplateEngine.render`."""
    return _default_engine().render(value, scope, path, limits=limits)


async def render_async(value: Any, scope: Mapping[str, Any], path: str = "$", *,
                       settings: Settings | None = None) -> Any:
    """Render off the event loop under the limits of ``settings``; see :meth:`TemplateEngine.render_async`."""
    limits = TemplateLimits.from_settings(settings) if settings is not None else DEFAULT_LIMITS
    return await _default_engine().render_async(value, scope, path, limits=limits)
