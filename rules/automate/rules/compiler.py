"""Compiled rules, the engine that builds and caches them, and the module-level API.

A :class:`RuleEngine` owns an operator table (the built-ins plus registered custom operators) and a
bounded LRU cache of compiled rules keyed by canonical JSON (``json.dumps(sort_keys=True)``), so
``evaluate(rule, context)`` on a rule seen before costs one serialisation and a dict lookup. The
module-level functions in ``automate.rules`` use one default engine; code that needs its own operators
or cache (a test, a tenant) creates its own engine.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from automate.errors import (
    EvaluationDepthError,
    RuleError,
    RuleEvaluationError,
    RuleLimitError,
    RuleTooComplexError,
    UsageError,
)

from .codegen import generate
from .explain import Explanation, Recorder, build_explanation, try_recorded
from .limits import DEFAULT_LIMITS, RuleLimits
from .operators import copy_json
from .parser import Program, parse
from .spec import BUILTIN_OPERATORS, OperatorSpec, custom_spec

__all__ = ["DEFAULT_CACHE_SIZE", "CacheInfo", "CompiledRule", "RuleEngine"]

DEFAULT_CACHE_SIZE: Final = 1024


def _too_deep() -> EvaluationDepthError:
    return EvaluationDepthError("evaluation nested deeper than the Python stack allows")


def _unexpected(error: Exception) -> RuleEvaluationError:
    return RuleEvaluationError(f"evaluation failed: {type(error).__name__}: {error}")


def _load(source: str, namespace: dict[str, Any], label: str) -> None:
    try:
        code = compile(source, label, "exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as error:
        raise RuleTooComplexError(f"the rule is too complex to compile: {error}") from error
    exec(code, namespace)


class CompiledRule:
    """A validated rule turned into Python code, ready to evaluate many times.

    Instances are immutable and thread-safe; get them from :func:`compile_rule` or
    :meth:`RuleEngine.compile` rather than constructing them.
    """

    __slots__ = ("_apply", "_custom", "_evaluate", "_explain_function", "_limits", "_program", "_rule",
                 "_source")

    def __init__(self, *, rule: Any, program: Program, custom: dict[str, Callable[..., Any]],
                 limits: RuleLimits = DEFAULT_LIMITS) -> None:
        self._rule = rule
        self._program = program
        self._custom = custom
        self._limits = limits
        self._explain_function: Callable[[Recorder, Any], Any] | None = None
        generated = generate(program, custom, explain=False, limits=limits)
        namespace = generated.namespace
        namespace.update(_locate=self._locate, _too_deep=_too_deep, _unexpected=_unexpected)
        _load(generated.source, namespace, "<jsonlogic rule>")
        self._source = generated.source
        self._apply: Callable[[Any], Any] = namespace["_apply"]
        self._evaluate: Callable[[Any], bool] = namespace["_evaluate"]

    @property
    def rule(self) -> Any:
        """A copy of the rule this was compiled from."""
        return copy_json(self._rule)

    @property
    def source(self) -> str:
        """The generated Python source, for debugging and curiosity."""
        return self._source

    def evaluate(self, context: Any = None) -> bool:
        """Whether the rule matches ``context`` (JSONLogic truthiness of its result).

        Raises:
            RuleEvaluationError: Evaluation failed (``NaN``, a ``throw``...); ``path`` names the node.
        """
        return self._evaluate(context)

    def apply(self, context: Any = None) -> Any:
        """The rule's raw JSONLogic value for ``context``, as the conformance suites define it.

        Raises:
            RuleEvaluationError: Evaluation failed; ``path`` names the node.
        """
        return self._apply(context)

    def explain(self, context: Any = None) -> Explanation:
        """Evaluate and return the tree of sub-results; evaluation errors are reported, not raised."""
        recorder, result, error = self._trace(context)
        return build_explanation(self._program, recorder, result, error)

    def _explainer(self) -> Callable[[Recorder, Any], Any]:
        if self._explain_function is None:
            generated = generate(self._program, self._custom, explain=True, limits=self._limits)
            namespace = generated.namespace
            namespace["_tryx"] = try_recorded
            _load(generated.source, namespace, "<jsonlogic rule (explain)>")
            self._explain_function = namespace["_explain"]
        return self._explain_function

    def _trace(self, context: Any) -> tuple[Recorder, Any, RuleEvaluationError | None]:
        function = self._explainer()
        recorder = Recorder()
        try:
            return recorder, function(recorder, context), None
        except RuleEvaluationError as error:
            failure = error
        except RecursionError:
            failure = _too_deep()
        except RuleError:
            raise
        except Exception as error:
            failure = _unexpected(error)
        origin = recorder.fail(0, failure.type)
        if origin is not None:
            failure.path = self._program.nodes[origin].path
        return recorder, None, failure

    def _locate(self, error: RuleError, context: Any) -> None:
        """Give an evaluation error the path of the node that raised it, by replaying in explain mode (not
        a limit's: replaying would do the too-large work again)."""
        if not isinstance(error, RuleEvaluationError) or isinstance(error, RuleLimitError):
            return
        try:
            _, _, traced = self._trace(context)
        except Exception:
            return
        if traced is not None:
            error.path = traced.path

    def __repr__(self) -> str:
        text = json.dumps(self._rule, default=repr)
        return f"CompiledRule({text if len(text) <= 80 else text[:77] + '...'})"


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """Counters of a rule cache, for metrics and tests."""

    hits: int
    misses: int
    size: int
    maxsize: int


def _canonical(rule: Any) -> str | None:
    """Cache key: canonical JSON, or None when the rule cannot be serialised (then it is not cached)."""
    try:
        return json.dumps(rule, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None


def _same_rule(cached: Any, rule: Any) -> bool:
    """Guard against keys that collide only because json.dumps normalises (tuples, int keys)."""
    try:
        return bool(cached == rule)
    except RecursionError:
        return False


class RuleEngine:
    """Compiles rules against an operator table and caches them.

    Args:
        cache_size: Most compiled rules kept (least recently used are dropped first).
        limits: What one evaluation may build and do (``automate.rules.RuleLimits``).
    """

    def __init__(self, *, cache_size: int = DEFAULT_CACHE_SIZE, limits: RuleLimits = DEFAULT_LIMITS) -> None:
        if cache_size < 0:
            raise UsageError("cache_size must not be negative")
        self._limits = limits
        self._cache_size = cache_size
        self._specs: dict[str, OperatorSpec] = dict(BUILTIN_OPERATORS)
        self._custom: dict[str, Callable[..., Any]] = {}
        self._cache: OrderedDict[str, CompiledRule] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def register_operator(self, name: str, function: Callable[..., Any]) -> None:
        """Add an operator; rules call it as ``{name: [args...]}`` with evaluated arguments.

        The function receives the arguments positionally and returns a JSON value. An exception it
        raises surfaces as :class:`~automate.errors.OperatorError` (a ``RuleError`` passes
        through). Registering again replaces the function; the cache is cleared either way.

        Raises:
            ValueError: ``name`` is empty or a built-in operator.
            TypeError: ``function`` is not callable.
        """
        if not isinstance(name, str) or not name:
            raise UsageError("an operator name is a non-empty string")
        if name in BUILTIN_OPERATORS:
            raise UsageError(f"{name!r} is a built-in operator and cannot be replaced")
        if not callable(function):
            raise UsageError("an operator must be callable")
        with self._lock:
            self._custom[name] = function
            self._specs[name] = custom_spec(name)
            self._cache.clear()

    def unregister_operator(self, name: str) -> None:
        """Remove a registered operator (rules using it stop compiling).

        Raises:
            KeyError: No custom operator has that name.
        """
        with self._lock:
            del self._custom[name]
            del self._specs[name]
            self._cache.clear()

    def compile(self, rule: Any) -> CompiledRule:
        """Validate and compile ``rule``, or return the cached compilation of an identical rule.

        Raises:
            RuleValidationError: The rule is malformed; ``path`` points at the fault.
        """
        key = _canonical(rule)
        if key is not None:
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None and _same_rule(cached._rule, rule):
                    self._cache.move_to_end(key)
                    self._hits += 1
                    return cached
                self._misses += 1
                specs = dict(self._specs)
                custom = dict(self._custom)
        else:
            with self._lock:
                self._misses += 1
                specs = dict(self._specs)
                custom = dict(self._custom)
        program = parse(rule, specs)
        compiled = CompiledRule(rule=copy_json(rule), program=program, custom=custom, limits=self._limits)
        if key is not None and self._cache_size:
            with self._lock:
                self._cache[key] = compiled
                self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return compiled

    def evaluate(self, rule: Any, context: Any = None) -> bool:
        """Compile (or fetch) ``rule`` and answer whether it matches ``context``."""
        return self.compile(rule).evaluate(context)

    def apply(self, rule: Any, data: Any = None) -> Any:
        """Compile (or fetch) ``rule`` and return its raw JSONLogic value for ``data``."""
        return self.compile(rule).apply(data)

    def explain(self, rule: Any, context: Any = None) -> Explanation:
        """Compile (or fetch) ``rule`` and explain its outcome on ``context``."""
        return self.compile(rule).explain(context)

    def cache_info(self) -> CacheInfo:
        """Hit and miss counters and the current size of the cache."""
        with self._lock:
            return CacheInfo(
                hits=self._hits, misses=self._misses, size=len(self._cache), maxsize=self._cache_size
            )

    def clear_cache(self) -> None:
        """Drop every cached compilation (counters are kept)."""
        with self._lock:
            self._cache.clear()
