"""Workflow definitions: the file format, validation with paths, the graph, retry policies."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from automate.errors import WorkflowValidationError
from automate.runtime.workflows import (
    RetryPolicy,
    WorkflowSpec,
    definition_files,
    dependents,
    digest,
    load,
    load_dir,
    read_definition,
    topological_layers,
    validate,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "workflows" / "order-fulfilment.yaml"
KNOWN = {"core.transform", "core.log", "http.request", "core.wait"}


@pytest.fixture
def example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(data, dict)
    return data


def faults_of(data: Any, known: set[str] = KNOWN) -> list[tuple[str, str]]:
    with pytest.raises(WorkflowValidationError) as caught:
        validate(data, known)
    assert caught.value.code == "workflow.invalid"
    return caught.value.faults


def step(step_id: str, *needs: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "action": "core.log", "needs": list(needs), **fields}


def workflow(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"slug": "wf", "name": "WF", "steps": list(steps)}


# --- the contract file ----------------------------------------------------------------------------


def test_the_design_example_validates(example: dict[str, Any]) -> None:
    spec = validate(example, KNOWN)
    assert (spec.slug, spec.name, spec.tenant) == ("order-fulfilment", "Order fulfilment", "acme")
    assert spec.trigger is not None and spec.trigger.event == "order.*"
    assert spec.all_triggers == [spec.trigger]
    assert spec.trigger.rule == {">=": [{"var": "amount"}, 100]}
    shape, notify = spec.steps
    assert (shape.id, shape.action, shape.needs) == ("shape", "core.transform", [])
    assert shape.retry == RetryPolicy()
    assert notify.needs == ["shape"]
    assert notify.timeout == 30.0
    assert (notify.retry.max_attempts, notify.retry.backoff, notify.retry.initial, notify.retry.max) == (
        5, "exponential", 1.0, 600.0)
    assert notify.input["headers"] == {"Authorization": "Bearer $secret:HOOK_TOKEN"}
    assert notify.input["url"] == "https://hooks.example.com/x"
    assert spec.step("notify") is notify


def test_load_reads_yaml_and_json_alike(example: dict[str, Any], tmp_path: Path) -> None:
    as_json = tmp_path / "order.json"
    as_json.write_text(json.dumps(example))
    assert load(as_json) == load(EXAMPLE)
    assert digest(load(as_json)) == digest(load(EXAMPLE))


def test_load_dir_reads_the_workflow_files_in_name_order(example: dict[str, Any], tmp_path: Path) -> None:
    for name, slug in (("b.yml", "second"), ("a.yaml", "first"), ("c.json", "third")):
        (tmp_path / name).write_text(json.dumps({**example, "slug": slug}))
    (tmp_path / "notes.txt").write_text("not a workflow")
    assert [s.slug for s in load_dir(tmp_path)] == ["first", "second", "third"]
    assert definition_files(EXAMPLE) == [EXAMPLE]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", "slug: [unclosed", "invalid YAML"),
        ("bad.json", "{\"slug\": ", "invalid JSON"),
        ("bad.toml", "slug = 'x'", "ends in .yaml, .yml or .json"),
    ],
)
def test_unreadable_files_are_faults_at_the_root(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(WorkflowValidationError) as caught:
        read_definition(path)
    [(where, what)] = caught.value.faults
    assert where == "$" and message in what


def test_load_reports_shape_faults_with_paths(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("slug: x\nname: X\nsteps: [{id: a, action: core.log, retry: {max_attempts: 0}}]\n")
    with pytest.raises(WorkflowValidationError) as caught:
        load(path)
    assert [p for p, _ in caught.value.faults] == ["$.steps[0].retry.max_attempts"]


@pytest.mark.parametrize("data", [None, [], "slug: x", 3])
def test_a_definition_must_be_an_object(data: Any) -> None:
    [(path, message)] = faults_of(data)
    assert path == "$" and "object" in message


# --- each fault at its path -----------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: list[str | int], value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(path: list[str | int]) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


FAULTS: list[tuple[str, Mutation, str, str]] = [
    ("unknown top-level key", _set(["owner"], "me"), "$.owner", "unknown field 'owner'"),
    ("unknown step key", _set(["steps", 1, "after"], ["shape"]), "$.steps[1].after", "unknown field 'after'"),
    ("unknown retry key", _set(["steps", 1, "retry", "tries"], 2), "$.steps[1].retry.tries", "unknown field"),
    ("bad slug", _set(["slug"], "Order_Fulfilment"), "$.slug", "slug must be 1-63 lowercase letters"),
    ("long slug", _set(["slug"], "a" * 64), "$.slug", "slug must be"),
    ("missing name", _delete(["name"]), "$.name", "required"),
    ("no steps", _set(["steps"], []), "$.steps", "at least 1"),
    ("bad step id", _set(["steps", 0, "id"], "Shape!"), "$.steps[0].id", "id must be lowercase"),
    ("duplicate step id", _set(["steps", 1, "id"], "shape"), "$.steps[1].id", "duplicate step id 'shape'"),
    ("unknown needs", _set(["steps", 1, "needs"], ["shap"]), "$.steps[1].needs[0]",
     "unknown step 'shap'; did you mean 'shape'?"),
    ("self need", _set(["steps", 1, "needs"], ["shape", "notify"]), "$.steps[1].needs[1]",
     "cannot need itself"),
    ("need twice", _set(["steps", 1, "needs"], ["shape", "shape"]), "$.steps[1].needs[1]", "listed twice"),
    ("unknown action", _set(["steps", 1, "action"], "http.reqest"), "$.steps[1].action",
     "unknown action 'http.reqest'; did you mean 'http.request'?"),
    ("template syntax", _set(["steps", 0, "input", "order"], "{{ event.payload.order_id"),
     "$.steps[0].input.order", "template syntax error"),
    ("template root", _set(["steps", 1, "input", "json", "order"], "{{ env.HOME }}"),
     "$.steps[1].input.json.order", "unknown variable 'env'"),
    ("template internals", _set(["steps", 0, "input", "ctx"], "{{ event.__class__ }}"),
     "$.steps[0].input.ctx", "Python internals"),
    ("template step not needed", _set(["steps", 0, "input", "ctx"], "{{ steps.notify.output }}"),
     "$.steps[0].input.ctx", "refers to steps.notify, which this step does not need"),
    ("template step unknown", _set(["steps", 1, "input", "url"], "{{ steps.shap.output.url }}"),
     "$.steps[1].input.url", "refers to steps.shap, which is no step of this workflow"),
    ("bad when operator", _set(["steps", 1, "when"], {"====": [1, 1]}), "$.steps[1].when",
     "invalid rule: unknown operator '===='"),
    ("bad when arguments", _set(["steps", 1, "when"], {"and": [{"==": [1]}]}), '$.steps[1].when.and[0]["=="]',
     "invalid rule"),
    ("when reads a step not needed", _set(["steps", 0, "when"], {"var": "steps.notify.output.ok"}),
     "$.steps[0].when.var", "refers to steps.notify, which this step does not need"),
    ("when reads another root", _set(["steps", 1, "when"], {">": [{"var": "amount"}, 1]}),
     '$.steps[1].when[">"][0].var', "the condition reads 'amount'"),
    ("bad trigger rule", _set(["trigger", "rule"], {">=": [{"var": "amount"}]}), '$.trigger.rule[">="]',
     "invalid rule"),
    ("trigger without event", _delete(["trigger", "event"]), "$.trigger.event", "required"),
    ("trigger and triggers", _set(["triggers"], [{"event": "x"}]), "$", "either trigger or triggers"),
    ("bad timeout", _set(["steps", 1, "timeout"], "30 seconds"), "$.steps[1].timeout", "not a duration"),
    ("zero timeout", _set(["steps", 1, "timeout"], "0s"), "$.steps[1].timeout", "greater than 0"),
    ("bad execution timeout", _set(["timeout"], "soon"), "$.timeout", "not a duration"),
    ("bad backoff", _set(["steps", 1, "retry", "backoff"], "linear"), "$.steps[1].retry.backoff",
     "'exponential' or 'fixed'"),
    ("no attempts", _set(["steps", 1, "retry", "max_attempts"], 0), "$.steps[1].retry.max_attempts",
     "greater than or equal to 1"),
    ("jitter above 1", _set(["steps", 1, "retry", "jitter"], 1.5), "$.steps[1].retry.jitter", "less than"),
    ("max below initial", _set(["steps", 1, "retry", "initial"], "1h"), "$.steps[1].retry",
     "max (600s) is below initial (3600s)"),
    ("input not an object", _set(["steps", 0, "input"], ["a"]), "$.steps[0].input", "dictionary"),
]


@pytest.mark.parametrize(("mutate", "path", "message"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_each_fault_is_reported_at_its_path(
    example: dict[str, Any], mutate: Mutation, path: str, message: str
) -> None:
    mutate(example)
    faults = faults_of(example)
    assert any(p == path and message in m for p, m in faults), faults


def test_every_fault_is_reported_at_once(example: dict[str, Any]) -> None:
    example["slug"] = "Bad Slug"
    example["steps"][0]["action"] = "nope.nothing"
    example["steps"][1]["needs"] = ["shape", "ghost"]
    example["steps"][1]["retry"]["initial"] = "forever"  # a shape fault in the step beside graph faults
    example["trigger"]["rule"] = {"bogus": []}
    paths = [path for path, _ in faults_of(example)]
    assert paths == ["$.slug", "$.steps[0].action", "$.steps[1].needs[1]", "$.steps[1].retry.initial",
                     "$.trigger.rule"]


def test_faults_come_in_document_order() -> None:
    steps = [step(f"s{i}") for i in range(12)]
    steps[2]["action"] = "x.y"
    steps[11]["action"] = "x.y"
    paths = [path for path, _ in faults_of(workflow(*steps))]
    assert paths == ["$.steps[2].action", "$.steps[11].action"]


def test_a_model_is_validated_as_well(example: dict[str, Any]) -> None:
    spec = WorkflowSpec.model_validate(example)
    assert validate(spec, KNOWN) is spec
    [(path, message)] = faults_of(spec, known={"core.transform"})
    assert (path, message) == ("$.steps[1].action", "unknown action 'http.request'")


# --- cycles ---------------------------------------------------------------------------------------


def test_a_two_step_cycle_is_named() -> None:
    faults = faults_of(workflow(step("a", "b"), step("b", "a")))
    assert faults == [("$.steps[0].needs", "dependency cycle: a -> b -> a")]


def test_a_longer_cycle_is_named_from_its_first_step() -> None:
    faults = faults_of(workflow(step("start"), step("c", "b"), step("a", "c", "start"), step("b", "a")))
    assert faults == [("$.steps[1].needs", "dependency cycle: c -> b -> a -> c")]


def test_separate_cycles_are_each_reported() -> None:
    faults = faults_of(workflow(step("a", "b"), step("b", "a"), step("c", "d"), step("d", "c"),
                                step("e", "a")))
    assert faults == [("$.steps[0].needs", "dependency cycle: a -> b -> a"),
                      ("$.steps[2].needs", "dependency cycle: c -> d -> c")]


def test_a_long_chain_is_no_cycle_and_needs_no_recursion() -> None:
    steps = [step("s0")] + [step(f"s{i}", f"s{i - 1}") for i in range(1, 3000)]
    spec = validate(workflow(*steps), KNOWN)
    assert len(topological_layers(spec)) == 3000


# --- when conditions and templates see the steps they need ----------------------------------------


def test_conditions_and_templates_may_read_transitively_needed_steps() -> None:
    spec = validate(workflow(
        step("a"),
        step("b", "a"),
        step("c", "b", when={"and": [{"==": [{"var": "steps.a.output.ok"}, True]},
                                     {"var": "event.payload.flag"}, {"var": "execution.context.x"},
                                     {"some": [{"var": "steps.b.output.items"},
                                               {"==": [{"var": "sku"}, 1]}]}]},
             input={"x": "{{ steps.a.output }} {{ steps.b.output }}"}),
    ), KNOWN)
    assert [s.id for s in spec.steps] == ["a", "b", "c"]


def test_a_condition_on_a_sibling_branch_is_refused() -> None:
    faults = faults_of(workflow(
        step("a"), step("left", "a"), step("right", "a", when={"var": "steps.left.output.done"}),
    ))
    assert faults == [("$.steps[2].when.var",
                       "refers to steps.left, which this step does not need (directly or through its needs)")]


def test_a_condition_may_not_read_its_own_step() -> None:
    faults = faults_of(workflow(step("a", when={"==": [{"var": "steps.a.status"}, "SUCCESS"]})))
    assert [p for p, _ in faults] == ['$.steps[0].when["=="][0].var']


def test_other_data_reads_are_checked_too() -> None:
    faults = faults_of(workflow(
        step("a"),
        step("b", when={"missing": ["steps.a.output", "amount"]}),
        step("c", "a", when={"val": ["steps", "a", "output"]}),
    ))
    assert faults == [
        ("$.steps[1].when.missing", "refers to steps.a, which this step does not need (directly or through "
                                    "its needs)"),
        ("$.steps[1].when.missing", "the condition reads 'amount'; conditions see only event, steps and "
                                    "execution"),
    ]


# --- graph helpers --------------------------------------------------------------------------------


def test_layers_and_dependents_of_a_diamond() -> None:
    spec = validate(workflow(step("start"), step("left", "start"), step("right", "start"),
                             step("join", "left", "right"), step("alone")), KNOWN)
    assert topological_layers(spec) == [["start", "alone"], ["left", "right"], ["join"]]
    assert dependents(spec) == {"start": ["left", "right"], "left": ["join"], "right": ["join"], "join": [],
                                "alone": []}


def test_layers_refuse_an_unvalidated_cycle() -> None:
    spec = WorkflowSpec.model_validate(workflow(step("a", "b"), step("b", "a")))
    with pytest.raises(WorkflowValidationError, match="cycle"):
        topological_layers(spec)


# --- digest ---------------------------------------------------------------------------------------


def test_the_digest_ignores_spelling_and_order(example: dict[str, Any]) -> None:
    respelled = copy.deepcopy(example)
    respelled["steps"][1]["timeout"] = 30
    respelled["steps"][1]["retry"]["max"] = "600s"
    reordered = dict(reversed(list(respelled.items())))
    assert digest(validate(reordered, KNOWN)) == digest(validate(example, KNOWN))


def test_the_digest_changes_with_the_definition(example: dict[str, Any]) -> None:
    before = digest(validate(example, KNOWN))
    example["steps"][1]["input"]["url"] = "https://hooks.example.com/y"
    after = digest(validate(example, KNOWN))
    assert before != after and len(after) == 64


# --- retry policy ---------------------------------------------------------------------------------


class FixedDraw:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_exponential_backoff_doubles_until_the_cap() -> None:
    policy = RetryPolicy(initial=1, max=10, jitter=0)
    assert [policy.delay(attempt) for attempt in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_fixed_backoff_waits_the_same() -> None:
    policy = RetryPolicy.model_validate({"backoff": "fixed", "initial": "500ms", "jitter": 0})
    assert {policy.delay(attempt) for attempt in range(1, 20)} == {0.5}


def test_jitter_spreads_the_wait_within_bounds() -> None:
    policy = RetryPolicy(initial=2, max=600, jitter=0.25)
    rng = random.Random(7)
    delays = [policy.delay(3, rng) for _ in range(2000)]
    assert all(6.0 <= d <= 10.0 for d in delays)  # 8s +- 25%
    assert min(delays) < 6.2 and max(delays) > 9.8  # it does spread
    assert policy.delay(3, FixedDraw(0.0)) == 6.0
    assert policy.delay(3, FixedDraw(0.5)) == 8.0


def test_jitter_never_goes_past_the_cap() -> None:
    policy = RetryPolicy(initial=1, max=10, jitter=1.0)
    assert policy.delay(30, FixedDraw(0.9999)) == 10
    assert policy.delay(30, FixedDraw(0.0)) == 0.0
    assert policy.delay(10**6, FixedDraw(0.5)) == 10  # no overflow on absurd attempt numbers


def test_retry_follows_the_error_and_the_attempt_count() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry("http.503", retryable=True, attempt=1)
    assert policy.should_retry("http.503", retryable=True, attempt=2)
    assert not policy.should_retry("http.503", retryable=True, attempt=3)  # that was the last attempt
    assert not policy.should_retry("http.400", retryable=False, attempt=1)


def test_retry_on_names_the_codes_to_retry() -> None:
    policy = RetryPolicy.model_validate({"max_attempts": 5, "retry_on": ["http.5*", "timeout"]})
    assert policy.should_retry("http.502", retryable=True, attempt=1)
    assert policy.should_retry("timeout", retryable=True, attempt=4)
    assert not policy.should_retry("http.429", retryable=True, attempt=1)
    assert policy.should_retry("http.500", retryable=False, attempt=1)  # named: retried anyway
    assert not policy.should_retry("http.500", retryable=True, attempt=5)


def test_a_single_attempt_never_retries() -> None:
    assert not RetryPolicy(max_attempts=1).should_retry("timeout", retryable=True, attempt=1)


def test_the_policy_is_frozen_and_refuses_unknown_keys() -> None:
    policy = RetryPolicy()
    with pytest.raises(ValidationError):
        policy.max_attempts = 9
    with pytest.raises(ValidationError, match="attempts"):
        RetryPolicy.model_validate({"attempts": 3})
    assert policy.model_dump() == {"max_attempts": 3, "backoff": "exponential", "initial": 1.0, "max": 600.0,
                                   "jitter": 0.2, "retry_on": None}


@pytest.mark.parametrize(("retry_after", "expected"), [
    (None, 1.0), (0.5, 1.0), (1.5, 1.5), (31536000.0, 2.0), (float("inf"), 1.0), (float("nan"), 1.0)])
def test_retry_after_counts_but_never_beyond_max(retry_after: float | None, expected: float) -> None:
    policy = RetryPolicy(initial=1, max=2, jitter=0)
    assert policy.next_delay(1, retry_after=retry_after) == expected
