"""Checking a workflow definition completely: every fault at once, each with its JSON path.

:func:`validate` refuses the shape (unknown keys, wrong types), duplicate step ids, unknown ``needs``,
dependency cycles, unknown actions, bad templates, bad ``when`` and trigger rules, and references to steps
that are not (transitively) needed.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Final

from pydantic import ValidationError

from automate.errors import WorkflowValidationError
from automate.rules import RuleError, compile_rule
from automate.runtime import templating
from automate.runtime.workflows.limits import check_definition
from automate.runtime.workflows.spec import StepSpec, TriggerSpec, WorkflowSpec
from automate_connectors.placement import destination_faults, input_reference_faults
from automate_connectors.registry import registry as connector_registry

__all__ = ["pydantic_faults", "validate"]

# Arguments of these JSONLogic operators are evaluated against an item (or a caught error), not the scope:
# operator -> (first scoped argument, one past the last; None = to the end).
_RULE_SCOPED: Final[dict[str, tuple[int, int | None]]] = {
    "map": (1, 2), "filter": (1, 2), "reduce": (1, 2), "all": (1, 2), "some": (1, 2), "none": (1, 2),
    "try": (1, None),
}



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
        check_definition(data)  # before anything walks it deeper
        try:
            spec = WorkflowSpec.model_validate(data)
        except ValidationError as exc:
            faults.extend(pydantic_faults(exc))
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
        faults.extend(_connector_faults(step, base))
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


def _connector_faults(step: StepSpec, base: str) -> list[tuple[str, str]]:
    """A connector's action needs its connection when its configuration has required fields, and its
    static fields written out; a step of another action has no connection."""
    found = connector_registry.find_action(step.action)
    if found is None:
        faults = []
        if templating.SECRET_REFERENCE.search(json.dumps(step.input, ensure_ascii=False, default=str)):
            faults.append((f"{base}.input", f"{step.action} is no connector's action: it resolves no secret "
                                            "references"))
        if step.connection is not None:
            faults.append((f"{base}.connection", f"{step.action} is no connector's action: it takes no "
                                                 "connection"))
        return faults
    connector, spec = found
    faults = input_reference_faults(step.action, spec, step.input, f"{base}.input")
    faults.extend(destination_faults(step.action, spec, step.input, f"{base}.input"))
    if step.connection is None and connector.requires_connection():
        faults.append((f"{base}.connection", f"{step.action} needs a connection (a {connector.key} "
                                             "connection made with `automate connections set`)"))
    for name in spec.static_fields:
        value = step.input.get(name)
        if isinstance(value, str) and templating.is_template(value):
            faults.append((f"{base}.input.{name}", f"{step.action}'s {name} must be written out, not "
                                                   "templated: pass values as parameters"))
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


def pydantic_faults(error: ValidationError) -> list[tuple[str, str]]:
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
