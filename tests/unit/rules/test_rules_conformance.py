"""The shared JSONLogic suites: tests.json in full, compat-tables and json-logic-engine above 95%.

Data: ``tests/data/jsonlogic`` (public suites, kept unmodified; SOURCES.md there gives their origins and
licenses).
Scoring is type-aware: a bool never equals a number, int and float are one JSON number, floats compare
with a relative tolerance of 1e-10; an expected error passes only when the raised RuleError's ``type``
names it. The cases we answer differently are pinned in KNOWN_DIFFERENCES (and explained in
docs/rules.md), so a new failure, or a fixed one, shows up here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from automate.rules import RuleEngine, RuleError

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "jsonlogic"

COMPAT_GOAL = 0.95
ENGINE_GOAL = 0.95

# (file relative to the data dir, description) of every case we knowingly answer differently.
KNOWN_DIFFERENCES = {
    (
        "json-logic-engine/additional.json",
        f"Throws when you try to use reduce with an array as the accumulator beyond allowed depth ({which})",
    )
    for which in ("Default", "Return", "Return 2", "Return 3")
} | {
    ("json-logic-engine/control/and.json", "And with no arguments should return null"),
    ("json-logic-engine/control/or.json", "Or with no arguments should return null"),
    ("json-logic-engine/control/if.json", "Empty object is falsy."),
    ("json-logic-engine/control/if.json", "Returns first truthy value, some conditions truthy (8)"),
    ("json-logic-engine/truthiness.json", "Truthy: {}, Direct"),
    ("json-logic-engine/truthiness.json", "Truthy: {}"),
    ("json-logic-engine/truthiness.json", "Truthy: Zero Key Object"),
    # Both suites answer null == 0 as true; json-logic-js (JavaScript's ==) answers false, and so do we.
    ("json-logic-engine/comparison/softEquals.json", "== with (null, 0)"),
    ("json-logic-engine/comparison/softNotEquals.json", "!= with (null, 0)"),
}
# The same two cases of the compat tables (scored against their own goal, not pinned one by one).
COMPAT_DIFFERENCES = {
    ("compat-tables/comparison/softEquals.json", "== with (null, 0)"),
    ("compat-tables/comparison/softNotEquals.json", "!= with (null, 0)"),
}


@dataclass(frozen=True)
class Case:
    file: str
    description: str
    rule: Any
    data: Any
    expected_error: str | None
    expected: Any


def same(left: Any, right: Any) -> bool:
    """Type-aware JSON equality used for scoring."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is bool and type(right) is bool and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right or math.isclose(left, right, rel_tol=1e-10)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[key], right[key]) for key in left)
    return type(left) is type(right) and left == right


def load_cases(path: Path) -> list[Case]:
    relative = path.relative_to(DATA_DIR).as_posix()
    cases: list[Case] = []
    for index, entry in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        if isinstance(entry, str):
            continue
        if isinstance(entry, list):
            rule, data, expected = entry
            cases.append(Case(relative, f"#{index}", rule, data, None, expected))
            continue
        error = entry.get("error")
        cases.append(
            Case(
                relative,
                entry.get("description", f"#{index}"),
                entry["rule"],
                entry.get("data", {}),
                error["type"] if error is not None else None,
                entry.get("result"),
            )
        )
    return cases


def suite_files(suite: str) -> list[Path]:
    if suite == "tests.json":
        return [DATA_DIR / "tests.json"]
    if suite == "compat-tables":
        index = json.loads((DATA_DIR / "compat-tables/index.json").read_text(encoding="utf-8"))
        return [DATA_DIR / "compat-tables" / name for name in index]
    return sorted((DATA_DIR / suite).rglob("*.json"))


def run_case(engine: RuleEngine, case: Case) -> tuple[bool, str]:
    try:
        result = engine.apply(case.rule, case.data)
    except RuleError as error:
        passed = case.expected_error is not None and error.type == case.expected_error
        return passed, f"raised {type(error).__name__}({error.type!r}): {error}"
    if case.expected_error is not None:
        return False, f"returned {result!r}, expected error {case.expected_error!r}"
    return same(result, case.expected), f"returned {result!r}, expected {case.expected!r}"


def score(suite: str) -> tuple[int, int, dict[tuple[str, str], str]]:
    engine = RuleEngine()
    cases = [case for path in suite_files(suite) for case in load_cases(path)]
    failures: dict[tuple[str, str], str] = {}
    for case in cases:
        passed, detail = run_case(engine, case)
        if not passed:
            failures[(case.file, case.description)] = f"{json.dumps(case.rule)[:120]} -> {detail}"
    return len(cases) - len(failures), len(cases), failures


def describe(failures: dict[tuple[str, str], str]) -> str:
    return "\n".join(f"{file}: {name}: {detail}" for (file, name), detail in sorted(failures.items()))


def test_tests_json_passes_completely() -> None:
    passed, total, failures = score("tests.json")
    assert total == 277
    assert passed == 277, describe(failures)


@pytest.mark.parametrize(
    ("suite", "total_cases", "goal"),
    [("compat-tables", 1138, COMPAT_GOAL), ("json-logic-engine", 1414, ENGINE_GOAL)],
)
def test_newer_suite_meets_goal_with_only_known_differences(
    suite: str, total_cases: int, goal: float
) -> None:
    passed, total, failures = score(suite)
    assert total == total_cases, "the suite loader lost or invented cases"
    assert passed / total >= goal, describe(failures)
    pinned = KNOWN_DIFFERENCES | COMPAT_DIFFERENCES
    unexpected = {key: detail for key, detail in failures.items() if key not in pinned}
    assert not unexpected, describe(unexpected)


def test_known_differences_are_still_differences() -> None:
    """A documented difference that starts passing means docs/rules.md needs updating."""
    _, _, failures = score("json-logic-engine")
    assert set(failures) == KNOWN_DIFFERENCES


def test_expected_errors_are_named_by_type() -> None:
    engine = RuleEngine()
    error_cases = [
        case
        for suite in ("compat-tables", "json-logic-engine")
        for path in suite_files(suite)
        for case in load_cases(path)
        if case.expected_error is not None
    ]
    assert len(error_cases) == 162 + 219
    named = [case for case in error_cases if run_case(engine, case)[0]]
    known = [case for case in error_cases if (case.file, case.description) in KNOWN_DIFFERENCES]
    assert len(named) == len(error_cases) - len(known)


def test_explain_and_evaluate_agree_with_apply_on_every_case() -> None:
    """The instrumented code behind explain() must compute exactly what the fast code computes."""
    engine = RuleEngine()
    cases = [
        case
        for suite in ("tests.json", "compat-tables", "json-logic-engine")
        for path in suite_files(suite)
        for case in load_cases(path)
    ]
    disagreements: list[str] = []
    for case in cases:
        try:
            compiled = engine.compile(case.rule)
        except RuleError:
            continue
        explanation = compiled.explain(case.data)
        try:
            result = compiled.apply(case.data)
        except RuleError as error:
            failure = explanation.error
            if failure is None or (failure.type, failure.path) != (error.type, error.path):
                disagreements.append(f"{case.file}: {case.description}: apply raised {error!r}")
            continue
        if explanation.error is not None or not same(explanation.result, result):
            disagreements.append(f"{case.file}: {case.description}: explain gave {explanation.result!r}")
        elif compiled.evaluate(case.data) is not explanation.matched:
            disagreements.append(f"{case.file}: {case.description}: evaluate disagrees")
    assert len(cases) == 277 + 1138 + 1414
    assert not disagreements, "\n".join(disagreements)
