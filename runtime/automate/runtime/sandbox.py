"""The template sandbox: Jinja2's immutable sandbox with every way to grow memory or time bounded.

Jinja2's sandbox keeps a template away from Python's internals, not from work: ``"a".ljust(4000000000)``,
``"{:>4000000000}".format(1)``, a string doubled by a recursive macro, ``((2**1024)**1024)**1024``, a
list of one large string repeated a million times and then printed, loops inside loops. Here each such
operation is checked before it builds its result, and each render has a budget (:class:`TemplateLimits`):

* ``max_string``: characters (or items) of any one string or list an operation builds: ``~``, ``+``,
  ``*``, ``join``, ``replace``, ``center``/``ljust``/``rjust``/``zfill``/``expandtabs``, ``format``
  (widths included), the filters, a macro's output, printing a value.
* ``max_output``: characters of the whole rendered input (text, and expression values as JSON).
* ``max_work``: steps of one render: loop items, calls, filters, attribute reads, operators, and every 16
  characters an operation builds.
* ``max_depth``: nesting of macro calls and of the values a render prints or returns.
* ``max_int_digits``: digits of an integer an operator or filter makes.
* ``timeout``: seconds of one render, checked inside the sandbox as it works.

Past any of them the render raises :class:`~automate.errors.TemplateLimitError` (``template.limit``),
a permanent step failure. The str methods a template may call are listed (the others, and ``encode``,
``translate``, ``int.to_bytes``..., are refused like ``__class__``); ``indent``, ``wordwrap``, ``center``
and ``format`` are not among the filters, ``range`` and the other globals are absent.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import GeneratorType
from typing import Any, Final

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import _PassArg

from automate.errors import TemplateLimitError
from automate.runtime.template_limits import Render, current, dumps, weigh

__all__ = ["SAFE_FILTERS", "Sandbox", "finalize", "loop_items_ast"]

_SIZED: Final = (str, list, tuple)

# --- the methods of built-in values ---------------------------------------------------------------------

_STR_METHODS: Final = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha", "isascii",
    "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle",
    "isupper", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "rfind", "rindex",
    "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title",
    "upper", "center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join",
})
_OTHER_METHODS: Final = frozenset({"count", "index", "copy", "get", "keys", "values", "items", "is_integer",
                                   "bit_length"})


def _predicted(method: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """The size of a growing str method's result, before it is built (None: it cannot grow)."""
    if method in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        return max(len(text), width) if type(width) is int else None
    if method == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        return len(text) + text.count("\t") * max(size, 0) if type(size) is int else None
    if method == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        old, new = args[0], args[1]
        limit = args[2] if len(args) > 2 else kwargs.get("count", -1)
        found = text.count(old) if old else len(text) + 1
        if type(limit) is int and limit >= 0:
            found = min(found, limit)
        return len(text) + found * (len(new) - len(old))
    return None


def _bounded_method(method: Callable[..., Any], name: str, owner: str) -> Callable[..., Any]:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        render = current()
        if name == "join":
            items = _materialize(args[0] if args else (), render)
            sizes = sum(len(item) for item in items if isinstance(item, str))
            render.room(sizes + len(owner) * max(len(items) - 1, 0))
            return method(items)
        size = _predicted(name, owner, args, kwargs)
        if size is not None:
            render.room(size)
        result = method(*args, **kwargs)
        if isinstance(result, str):
            render.room(len(result))
        elif isinstance(result, list):
            render.room(len(result), "a list")
        return result

    return functools.update_wrapper(bounded, method)


def _materialize(items: Any, render: Render) -> list[Any]:
    if isinstance(items, list | tuple):
        render.tick(1 + len(items))
        return list(items)
    collected: list[Any] = []
    for item in items:
        render.tick()
        collected.append(item)
    return collected


class _Formatter(SandboxedFormatter):
    """``str.format`` with its widths and its total length bounded."""

    def __init__(self, env: Any, render: Render) -> None:
        super().__init__(env)
        self._render = render
        self._room = render.limits.max_string

    def format_field(self, value: Any, format_spec: str) -> Any:
        for digits in re.findall(r"\d+", format_spec):
            if len(digits) > 9 or int(digits) > self._render.limits.max_string:
                raise TemplateLimitError(f"the format width or precision {digits[:12]} is above the limit of "
                                         f"{self._render.limits.max_string}", limit="string")
        if not isinstance(value, str | int | float | bool) and value is not None:
            weigh(value, self._render, self._room, "a formatted value")
        text = super().format_field(value, format_spec)
        self._room -= len(text)
        if self._room < 0:  # the fields together: refused as one string that long
            self._render.room(self._render.limits.max_string - self._room)
        self._render.room(len(text))
        return text

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None and not isinstance(value, str | int | float | bool) and value is not None:
            weigh(value, self._render, self._room, "a formatted value")
        return super().convert_field(value, conversion)


# --- filters ------------------------------------------------------------------------------------------

SAFE_FILTERS: Final = frozenset({
    "abs", "attr", "batch", "capitalize", "count", "d", "default", "dictsort", "filesizeformat", "first",
    "float", "groupby", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
    "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr", "slice", "sort",
    "string", "striptags", "sum", "title", "trim", "truncate", "unique", "upper", "urlencode", "wordcount",
})
# Filters that print their value with str(): a container is weighed first.
_PRINTING: Final = frozenset({"capitalize", "lower", "upper", "title", "trim", "striptags", "truncate",
                              "wordcount", "string", "urlencode", "replace", "join"})


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    skip = 1 if _PassArg.from_obj(function) is not None else 0

    def bounded(*args: Any, **kwargs: Any) -> Any:
        render = current()
        render.tick()
        value = args[skip] if len(args) > skip else None
        rest = args[skip + 1:]
        if name in _PRINTING and not isinstance(value, str | int | float | bool) and value is not None:
            if isinstance(value, Iterable) and not isinstance(value, Mapping | list | tuple):
                value = _materialize(value, render)
                args = (*args[:skip], value, *rest)
            weigh(value, render, render.limits.max_string, f"the value of |{name}")
        if name == "join" and isinstance(value, list | tuple):
            separator = rest[0] if rest else kwargs.get("d", "")
            size = weigh(value, render, render.limits.max_string, "the value of |join")
            render.room(size + len(str(separator)) * max(len(value) - 1, 0))
        elif name == "replace" and isinstance(value, str) and len(rest) >= 2:
            replacing = (str(rest[0]), str(rest[1]), *rest[2:3])
            predicted = _predicted("replace", value, replacing, {})
            if predicted is not None:
                render.room(predicted)
        elif name in ("batch", "slice"):
            count = rest[0] if rest else kwargs.get("linecount", kwargs.get("slices", 1))
            render.tick(count if type(count) is int and count > 0 else 1)
        elif name == "sum":
            return _sum(value, render, function, args, kwargs)
        result = function(*args, **kwargs)
        if isinstance(result, str):
            render.room(len(result))
        elif isinstance(result, list):
            render.room(len(result), "a list")
        return render.number(result)

    return functools.update_wrapper(bounded, function)


def _sum(value: Any, render: Render, function: Callable[..., Any], args: tuple[Any, ...],
         kwargs: dict[str, Any]) -> Any:
    """``sum`` of numbers, or of lists with ``start=[]`` (their total size checked first)."""
    start = kwargs.get("start", args[3] if len(args) > 3 else 0)
    if isinstance(start, list | tuple):
        items = _materialize(value, render)
        render.room(len(start) + sum(len(item) for item in items if isinstance(item, list | tuple)), "a list")
    return render.number(function(*args, **kwargs))


# --- the environment ------------------------------------------------------------------------------------


class _CodeGenerator(CodeGenerator):
    """Jinja2's code generator, with ``~`` joining through the sandbox (:meth:`Sandbox.join_values`)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_values((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the limits of :class:`TemplateLimits`, checked against the budget of
    the render running on the calling thread (:func:`rendering`)."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, **options)
        self.globals.clear()
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()
                        if name in SAFE_FILTERS}
        self.filters["tojson"] = _bounded_filter("tojson", _tojson)

    # -- what every template does -------------------------------------------------------------------------

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        render = current()
        render.tick()
        if operator == "*":
            for sized, count in ((left, right), (right, left)):
                if isinstance(sized, str | list | tuple) and type(count) is int:
                    render.room(len(sized) * max(count, 0), "a repetition")
            if type(left) is int and type(right) is int:
                render.bits(left.bit_length() + right.bit_length() - 1)
        elif operator == "**":
            if type(left) is int and type(right) is int and abs(left) > 1 and right > 0:
                render.bits((left.bit_length() - 1) * right + 1)
        elif operator == "%" and isinstance(left, str):
            raise SecurityError("% formatting of strings is not available in templates; join with ~")
        elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
            render.room(len(left) + len(right))
        return render.number(super().call_binop(context, operator, left, right))

    def join_values(self, values: tuple[Any, ...]) -> str:
        """``a ~ b``: each value printed as ``str()`` does, the total bounded first."""
        render = current()
        size = 0
        for value in values:
            if isinstance(value, str):
                size += len(value)
            elif not isinstance(value, int | float | bool) and value is not None:
                size += weigh(value, render, render.limits.max_string, "a value joined with ~")
        render.room(size)
        text = "".join(str(value) for value in values)
        render.room(len(text))
        return text

    def concat(self, parts: Iterable[str]) -> str:
        """The output of a macro, a call or filter block: bounded as it is collected."""
        render = current()
        room = render.limits.max_string
        collected: list[str] = []
        for part in parts:
            room -= len(part)
            if room < 0:
                render.room(render.limits.max_string + 1, "a block's output")
            collected.append(part)
        text = "".join(collected)
        render.room(len(text))
        return text

    def loop_items(self, items: Any) -> Iterator[Any]:
        """What a ``{% for %}`` goes through: each item one step."""
        render = current()
        for item in items:
            render.tick()
            yield item

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        render = current()
        render.tick()
        render.deeper()
        try:
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            render.depth -= 1
        return render.number(result)

    def getattr(self, obj: Any, attribute: str) -> Any:
        current().tick()
        return self._guard(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        current().tick()
        value = super().getitem(obj, argument)
        return self._guard(obj, argument, value) if isinstance(argument, str) else value

    def _guard(self, obj: Any, attribute: str, value: Any) -> Any:
        """A built-in method of a value: listed ones pass (bounded when they can grow), others are refused."""
        if not isinstance(value, types.BuiltinMethodType) or isinstance(value.__self__, types.ModuleType):
            return value
        owner = value.__self__
        if isinstance(owner, str):
            if value.__name__ in _STR_METHODS:
                return _bounded_method(value, value.__name__, owner)
        elif type(owner) in (list, tuple, dict, int, float, bool) and value.__name__ in _OTHER_METHODS:
            return value
        return self.unsafe_undefined(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or value.__name__ not in (
                "format", "format_map"):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise SecurityError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            render = current()
            render.tick()
            return str(_Formatter(self, render).vformat(owner, args, kwargs))

        return bounded


def _tojson(value: Any, indent: int | None = None) -> str:
    return dumps(value, current(), indent)


def finalize(value: Any) -> Any:
    """Spell what ``{{ }}`` prints inside a longer string the JSON way (``true``, ``null``, ``{"a": 1}``),
    weighed first."""
    if type(value) is GeneratorType:  # filters such as map and select return generators
        value = _materialize(value, current())
    kind = type(value)
    if kind is tuple:
        value, kind = list(value), list
    if kind is dict or kind is list or kind is bool or value is None:
        return dumps(value, current())
    return value


def loop_items_ast(tree: nodes.Template) -> nodes.Template:
    """Make every ``{% for %}`` of ``tree`` go through :meth:`Sandbox.loop_items` (one step per item)."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.EnvironmentAttribute("loop_items"), [loop.iter], [], None, None,
                               lineno=loop.lineno)
    return tree

