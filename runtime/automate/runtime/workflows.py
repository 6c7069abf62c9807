"""Workflow definitions: the file format of DESIGN.md ("Workflows") as pydantic models, and its validation.

One file defines one automation and its workflow, a DAG of steps::

    slug: order-fulfilment
    name: Order fulfilment
    trigger: {event: "order.*", rule: {">=": [{"var": "amount"}, 100]}}
    steps:
      - id: shape
        action: core.transform
        input: {order: "{{ event.payload.order_id }}"}
      - id: notify
        needs: [shape]
        when: {"==": [{"var": "steps.shape.output.order"}, "ORD-123"]}
        action: http.request
        input: {url: "https://hooks.example.com/x", json: {order: "{{ steps.shape.output.order }}"}}
        retry: {max_attempts: 5, backoff: exponential, initial: 1s, max: 10m}
        timeout: 30s

:func:`validate` refuses a definition with every fault at once, each with its JSON path: the shape
(unknown keys, wrong types), duplicate step ids, unknown ``needs``, dependency cycles, unknown actions, bad
templates, bad ``when`` and trigger rules, and references to steps that are not (transitively) needed.
Storing versions is :mod:`automate.runtime.workflow_store`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import random
from collections.abc import Collection, Iterator, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Protocol

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from automate.rules import RuleError, compile_rule
from automate.runtime import templating
from automate.runtime.durations import parse_duration
from automate.runtime.errors import WorkflowValidationError

__all__ = [
    "FILE_SUFFIXES",
    "SLUG_PATTERN",
    "STEP_ID_PATTERN",
    "RetryPolicy",
    "StepSpec",
    "TriggerSpec",
    "WorkflowSpec",
    "definition_files",
    "dependents",
    "digest",
    "load",
    "load_dir",
    "read_definition",
    "topological_layers",
    "validate",
]

SLUG_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"
STEP_ID_PATTERN: Final = r"^[a-z0-9_][a-z0-9_-]*$"
FILE_SUFFIXES: Final = (".yaml", ".yml", ".json")

# Arguments of these JSONLogic operators are evaluated against an item (or a caught error), not the scope:
# operator -> (first scoped argument, one past the last; None = to the end).
_RULE_SCOPED: Final[dict[str, tuple[int, int | None]]] = {
    "map": (1, 2), "filter": (1, 2), "reduce": (1, 2), "all": (1, 2), "some": (1, 2), "none": (1, 2),
    "try": (1, None),
}


def _duration(value: Any) -> Any:
    if isinstance(value, str | int | float):
        return parse_duration(value)
    return value  # let the float validation report the type


Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
"""Seconds; also accepts "500ms", "30s", "10m", "1h", "1d"."""

PositiveDuration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


class _RandomSource(Protocol):
    def random(self) -> float: ...


class RetryPolicy(BaseModel):
    """When and how soon a failed step is tried again.

    Attributes:
        max_attempts: Tries in all, the first included (1 = never retry).
        backoff: ``exponential`` doubles the wait after each failure; ``fixed`` always waits ``initial``.
        initial: Seconds before the second attempt.
        max: The longest wait, jitter included.
        jitter: Spread of each wait, as a fraction: 0.2 waits between 80% and 120% of the backoff.
        retry_on: Error codes (globs such as ``http.5*``) to retry; naming a code retries it even when the
            error calls itself permanent. None retries every error that says it is retryable.

    Subclass and override :meth:`delay` for another backoff curve.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=3, ge=1)
    backoff: Literal["exponential", "fixed"] = "exponential"
    initial: Duration = 1.0
    max: Duration = 600.0
    jitter: float = Field(default=0.2, ge=0.0, le=1.0)
    retry_on: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryPolicy:
        if self.max < self.initial:
            raise ValueError(f"max ({self.max:g}s) is below initial ({self.initial:g}s)")
        return self

    def delay(self, attempt: int, rng: _RandomSource | None = None) -> float:
        """Seconds to wait after attempt number ``attempt`` (1 is the first) failed, before the next one.

        The backoff (``initial * 2**(attempt-1)``, or ``initial`` when fixed) is capped at ``max``, spread
        by ``jitter`` and capped at ``max`` again.
        """
        if self.backoff == "fixed":
            base = self.initial
        else:
            base = self.initial * 2.0 ** min(max(attempt - 1, 0), 1000)
        base = min(base, self.max)
        if self.jitter:
            draw = rng.random() if rng is not None else random.random()
            base *= 1.0 - self.jitter + 2.0 * self.jitter * draw
        return min(base, self.max)

    def should_retry(self, error_code: str, retryable: bool, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1 is the first), failed with ``error_code``, gets another."""
        if attempt >= self.max_attempts:
            return False
        if self.retry_on is None:
            return retryable
        return any(fnmatchcase(error_code, pattern) for pattern in self.retry_on)


class TriggerSpec(BaseModel):
    """Which events start the automation: an event type (exact or glob) and an optional JSONLogic rule
    over the event's payload (no rule: every event of the type)."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(min_length=1, pattern=r"^\S+$")
    rule: dict[str, Any] | None = None


class StepSpec(BaseModel):
    """One step of the graph.

    Attributes:
        id: Unique within the workflow; templates and conditions reach its output as ``steps.<id>.output``.
        action: The action to call, e.g. ``http.request``.
        input: The action's input; strings may be templates (see :mod:`automate.runtime.templating`).
        needs: Steps that must finish first; steps with no path between them run in parallel.
        when: A JSONLogic condition over ``event``, ``steps`` and ``execution``; false skips the step.
        retry: The retry policy.
        timeout: Seconds one attempt may take (``"30s"`` accepted).
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=STEP_ID_PATTERN, max_length=64)
    action: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)
    needs: list[str] = Field(default_factory=list)
    when: dict[str, Any] | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: PositiveDuration | None = None


class WorkflowSpec(BaseModel):
    """One workflow file: the automation (slug, name, tenant, triggers) and its step graph.

    ``tenant`` None means the default tenant of the settings. Give ``trigger`` or ``triggers`` (a list),
    not both; neither makes a workflow that only runs when asked (``run_workflow``). ``timeout`` bounds a
    whole execution.
    """

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1)
    tenant: str | None = Field(default=None, min_length=1)
    trigger: TriggerSpec | None = None
    triggers: list[TriggerSpec] = Field(default_factory=list)
    timeout: PositiveDuration | None = None
    steps: list[StepSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_trigger_form(self) -> WorkflowSpec:
        if self.trigger is not None and self.triggers:
            raise ValueError("give either trigger or triggers, not both")
        return self

    @property
    def all_triggers(self) -> list[TriggerSpec]:
        """``trigger`` and ``triggers`` as one list."""
        return [self.trigger] if self.trigger is not None else list(self.triggers)

    def step(self, step_id: str) -> StepSpec:
        """The step called ``step_id``; KeyError when there is none."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


# --- files ----------------------------------------------------------------------------------------------


def read_definition(path: Path) -> Any:
    """The parsed content of a workflow file (.yaml, .yml or .json), not yet validated.

    Raises:
        WorkflowValidationError: The file cannot be read or parsed, or has another suffix (path ``$``).
    """
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise WorkflowValidationError([("$", f"{path.name}: a workflow file ends in .yaml, .yml or .json")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise WorkflowValidationError([("$", f"cannot read {path}: {reason}")]) from exc
    try:
        return json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise WorkflowValidationError([("$", f"invalid JSON: {exc.msg} (line {exc.lineno}, column "
                                             f"{exc.colno})")]) from exc
    except yaml.YAMLError as exc:
        raise WorkflowValidationError([("$", f"invalid YAML: {' '.join(str(exc).split())}")]) from exc


def definition_files(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else the workflow files directly inside it, sorted by name."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)
    return [path]


def load(path: Path) -> WorkflowSpec:
    """Read and parse one workflow file; checks its shape, not its actions (see :func:`validate`).

    Raises:
        WorkflowValidationError: Unreadable, unparsable, or not the shape of a workflow.
    """
    data = read_definition(path)
    try:
        return WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise WorkflowValidationError(_pydantic_faults(exc)) from None


def load_dir(path: Path) -> list[WorkflowSpec]:
    """Every workflow file directly inside the directory ``path``, by file name."""
    return [load(file) for file in definition_files(path)]


# --- validation -----------------------------------------------------------------------------------------


def validate(data: Mapping[str, Any] | WorkflowSpec, known_actions: Collection[str]) -> WorkflowSpec:
    """Check a workflow completely and return it as a model.

    Args:
        data: The parsed file (or an already built model).
        known_actions: The action names steps may use.

    Raises:
        WorkflowValidationError: With every fault found, as (JSON path, message), in file order.
    """
    faults: list[tuple[str, str]] = []
    spec: WorkflowSpec | None = None
    if isinstance(data, WorkflowSpec):
        spec = data
    elif not isinstance(data, Mapping):
        raise WorkflowValidationError([("$", f"a workflow is an object (mapping), not {_kind(data)}")])
    else:
        try:
            spec = WorkflowSpec.model_validate(data)
        except ValidationError as exc:
            faults.extend(_pydantic_faults(exc))
    if spec is not None:
        steps = list(enumerate(spec.steps))
        declared = {step.id for step in spec.steps}
        if spec.trigger is not None:
            triggers = [("$.trigger", spec.trigger)]
        else:
            triggers = [(f"$.triggers[{i}]", trigger) for i, trigger in enumerate(spec.triggers)]
    else:  # keep checking the parts that are well formed, so one run reports everything
        assert isinstance(data, Mapping)
        steps, declared = _valid_steps(data.get("steps"))
        triggers = _valid_triggers(data)
    faults.extend(_step_faults(steps, declared, known_actions))
    for path, trigger in triggers:
        faults.extend(_rule_faults(trigger.rule, f"{path}.rule"))
    if faults:
        raise WorkflowValidationError(sorted(dict.fromkeys(faults), key=lambda f: _path_key(f[0])))
    assert spec is not None
    return spec


def _valid_steps(raw: Any) -> tuple[list[tuple[int, StepSpec]], set[str]]:
    steps: list[tuple[int, StepSpec]] = []
    declared: set[str] = set()
    if not isinstance(raw, list):
        return steps, declared
    for index, item in enumerate(raw):
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            declared.add(item["id"])
        try:
            steps.append((index, StepSpec.model_validate(item)))
            continue
        except ValidationError as exc:  # already reported by the whole-model validation
            bad = {error["loc"][0] for error in exc.errors() if error["loc"]}
        if not isinstance(item, Mapping) or bad & {"id", "action"}:
            continue
        try:  # without its faulty fields the step still takes part in the graph checks
            steps.append((index, StepSpec.model_validate({k: v for k, v in item.items() if k not in bad})))
        except ValidationError:
            continue
    return steps, declared


def _valid_triggers(data: Mapping[str, Any]) -> list[tuple[str, TriggerSpec]]:
    candidates: list[tuple[str, Any]] = []
    if data.get("trigger") is not None:
        candidates.append(("$.trigger", data["trigger"]))
    if isinstance(data.get("triggers"), list):
        candidates.extend((f"$.triggers[{i}]", t) for i, t in enumerate(data["triggers"]))
    valid: list[tuple[str, TriggerSpec]] = []
    for path, raw in candidates:
        try:
            valid.append((path, TriggerSpec.model_validate(raw)))
        except ValidationError:
            continue
    return valid


def _step_faults(
    steps: list[tuple[int, StepSpec]], declared: set[str], known_actions: Collection[str]
) -> list[tuple[str, str]]:
    faults: list[tuple[str, str]] = []
    first: dict[str, int] = {}
    for index, step in steps:
        if step.id in first:
            faults.append((f"$.steps[{index}].id",
                           f"duplicate step id {step.id!r} (first at $.steps[{first[step.id]}])"))
        else:
            first[step.id] = index
    graph: dict[str, list[str]] = {}
    for index, step in steps:
        edges: list[str] = []
        for k, need in enumerate(step.needs):
            where = f"$.steps[{index}].needs[{k}]"
            if need == step.id:
                faults.append((where, "a step cannot need itself"))
            elif need in step.needs[:k]:
                faults.append((where, f"{need!r} is listed twice"))
            elif need not in declared:
                faults.append((where, f"unknown step {need!r}{_suggest(need, declared)}"))
            elif need in first:
                edges.append(need)
        if first[step.id] == index:
            graph[step.id] = edges
    for cycle in _cycles(graph, list(graph)):
        faults.append((f"$.steps[{first[cycle[0]]}].needs",
                       "dependency cycle: " + " -> ".join([*cycle, cycle[0]])))
    for index, step in steps:
        base = f"$.steps[{index}]"
        if step.action not in known_actions:
            hint = _suggest(step.action, known_actions)
            faults.append((f"{base}.action", f"unknown action {step.action!r}{hint}"))
        upstream = _ancestors(step.id, graph) if first[step.id] == index else set()
        faults.extend(templating.check(step.input, f"{base}.input"))
        for where, text in _template_strings(step.input, f"{base}.input"):
            for ref in sorted(templating.step_references(text)):
                if ref not in upstream:
                    faults.append((where, _unreachable(ref, declared)))
        if step.when is not None:
            rule_faults = _rule_faults(step.when, f"{base}.when")
            faults.extend(rule_faults)
            if not rule_faults:
                faults.extend(_condition_faults(step.when, f"{base}.when", upstream, declared))
    return faults


def _rule_faults(rule: Any, path: str) -> list[tuple[str, str]]:
    if rule is None:
        return []
    try:
        compile_rule(rule)
    except RuleError as exc:
        return [(path + exc.path[1:], f"invalid rule: {exc.message}")]
    return []


def _condition_faults(
    rule: Any, path: str, upstream: set[str], declared: set[str]
) -> list[tuple[str, str]]:
    """A condition may read only ``event``, ``steps`` and ``execution``, and only the steps it needs."""
    faults: list[tuple[str, str]] = []
    for where, segments in _rule_reads(rule, path):
        root = segments[0]
        if root not in templating.ROOTS:
            faults.append((where, f"the condition reads {'.'.join(segments)!r}; conditions see only event, "
                                  "steps and execution"))
        elif root == "steps" and len(segments) > 1 and segments[1] not in upstream:
            faults.append((where, _unreachable(segments[1], declared)))
    return faults


def _rule_reads(rule: Any, path: str) -> Iterator[tuple[str, list[str]]]:
    """The data paths a JSONLogic rule reads statically at its top scope, as (JSON path, segments)."""
    pending: list[tuple[Any, str]] = [(rule, path)]
    while pending:
        node, where = pending.pop()
        if isinstance(node, list):
            pending.extend((item, f"{where}[{i}]") for i, item in enumerate(node))
            continue
        if not isinstance(node, dict) or len(node) != 1:
            continue
        ((op, args),) = node.items()
        op_path = _child(where, op)
        listed = isinstance(args, list)
        arguments = args if listed else [args]
        if op == "var":
            first = arguments[0] if arguments else ""
            if isinstance(first, str) and first:
                yield op_path, first.split(".")
            continue
        if op in ("val", "exists"):
            if arguments and all(isinstance(s, str) for s in arguments):
                yield op_path, list(arguments)
            continue
        if op == "missing":
            yield from ((op_path, key.split(".")) for key in arguments if isinstance(key, str) and key)
            continue
        if op == "missing_some":
            keys = arguments[1] if len(arguments) > 1 and isinstance(arguments[1], list) else []
            yield from ((op_path, key.split(".")) for key in keys if isinstance(key, str) and key)
            continue
        if op == "preserve":
            continue
        start, stop = _RULE_SCOPED.get(op, (len(arguments), None))
        for i, item in enumerate(arguments):
            if start <= i and (stop is None or i < stop):
                continue  # evaluated against an item or an error, not the workflow's scope
            pending.append((item, f"{op_path}[{i}]" if listed else op_path))


def _template_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _template_strings(item, _child(path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _template_strings(item, f"{path}[{i}]")
    elif isinstance(value, str) and templating.is_template(value):
        yield path, value


def _unreachable(ref: str, declared: set[str]) -> str:
    if ref not in declared:
        return f"refers to steps.{ref}, which is no step of this workflow{_suggest(ref, declared)}"
    return f"refers to steps.{ref}, which this step does not need (directly or through its needs)"


def _ancestors(step_id: str, graph: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    pending = list(graph.get(step_id, ()))
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(graph.get(current, ()))
    seen.discard(step_id)
    return seen


def _cycles(graph: Mapping[str, list[str]], order: list[str]) -> list[list[str]]:
    """Dependency cycles found by a depth-first walk, each once, starting at its earliest step."""
    position = {node: i for i, node in enumerate(order)}
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    found: dict[frozenset[str], list[str]] = {}
    for root in order:
        if root in state:
            continue
        state[root] = 1
        path = [root]
        stack = [iter(graph[root])]
        while stack:
            for nxt in stack[-1]:
                if nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append(iter(graph[nxt]))
                    break
                if state[nxt] == 1:
                    cycle = path[path.index(nxt):]
                    start = min(range(len(cycle)), key=lambda i: position[cycle[i]])
                    found.setdefault(frozenset(cycle), cycle[start:] + cycle[:start])
            else:
                state[path.pop()] = 2
                stack.pop()
    return list(found.values())


def _suggest(name: str, candidates: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}")


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key, ensure_ascii=False)}]"


_FRIENDLY: Final[dict[str, str]] = {
    "slug": "must be 1-63 lowercase letters, digits and '-', starting with a letter or digit",
    "id": "must be lowercase letters, digits, '_' and '-', starting with a letter, digit or '_'",
}


def _pydantic_faults(error: ValidationError) -> list[tuple[str, str]]:
    faults: list[tuple[str, str]] = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        path = "$"
        for part in item["loc"]:
            path = _child(path, part)
        kind, message = item["type"], item["msg"]
        last = item["loc"][-1] if item["loc"] else None
        if kind == "extra_forbidden":
            message = f"unknown field {last!r}"
        elif kind == "missing":
            message = "required field is missing"
        elif kind == "string_pattern_mismatch" and isinstance(last, str) and last in _FRIENDLY:
            message = f"{last} {_FRIENDLY[last]}"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        faults.append((path, message))
    return faults


def _path_key(path: str) -> list[tuple[int, int | str]]:
    """Sort key putting paths in document order (``[2]`` before ``[10]``)."""
    key: list[tuple[int, int | str]] = []
    for part in path.replace("[", ".[").split("."):
        if part.startswith("[") and part[1:-1].isdigit():
            key.append((0, int(part[1:-1])))
        elif part:
            key.append((1, part))
    return key


# --- the graph, for the engine ----------------------------------------------------------------------------


def topological_layers(spec: WorkflowSpec) -> list[list[str]]:
    """Step ids in layers: each layer needs only earlier layers; file order within a layer.

    Raises:
        WorkflowValidationError: The needs form a cycle or name an unknown step (unvalidated input).
    """
    remaining = {step.id: set(step.needs) for step in spec.steps}
    unknown = sorted({need for needs in remaining.values() for need in needs} - remaining.keys())
    if unknown:
        raise WorkflowValidationError([("$.steps", f"unknown step(s) in needs: {', '.join(unknown)}")])
    done: set[str] = set()
    layers: list[list[str]] = []
    while remaining:
        layer = [step_id for step_id, needs in remaining.items() if needs <= done]
        if not layer:
            raise WorkflowValidationError([("$.steps", f"dependency cycle among {', '.join(remaining)}")])
        layers.append(layer)
        done.update(layer)
        for step_id in layer:
            del remaining[step_id]
    return layers


def dependents(spec: WorkflowSpec) -> dict[str, list[str]]:
    """For every step id, the steps that need it directly (file order); [] for the last steps."""
    result: dict[str, list[str]] = {step.id: [] for step in spec.steps}
    for step in spec.steps:
        for need in step.needs:
            if need in result:
                result[need].append(step.id)
    return result


def digest(spec: WorkflowSpec) -> str:
    """sha256 (hex) of the canonical JSON of ``spec``: equal definitions, equal digests."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
