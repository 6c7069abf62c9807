"""explain(): the tree of sub-results behind a match, a miss or a failure."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from automate.rules import ExplainNode, Explanation, NaNError, RuleEngine, compile_rule, explain

RULE = {
    "and": [
        {"==": [{"var": "status"}, "active"]},
        {"or": [{">": [{"var": "amount"}, 1000]}, {"==": [{"var": "priority"}, "high"]}]},
    ]
}


def find(node: ExplainNode, path: str) -> ExplainNode:
    pending = [node]
    while pending:
        current = pending.pop()
        if current.path == path:
            return current
        pending.extend(current.children)
    raise AssertionError(f"no node at {path}")


def test_explanation_of_a_match() -> None:
    explanation = explain(RULE, {"status": "active", "amount": 1500, "priority": "low"})
    assert isinstance(explanation, Explanation)
    assert (explanation.matched, explanation.result, explanation.error) == (True, True, None)
    root = explanation.root
    assert (root.operator, root.path, root.value) == ("and", "$", True)
    status = find(root, '$.and[0]["=="][0]')
    assert (status.label, status.value) == ('var "status"', "active")
    assert find(root, "$.and[1].or[0]").value is True
    skipped = find(root, "$.and[1].or[1]")
    assert skipped.evaluated is False
    assert all(child.evaluated is False for child in skipped.children)


def test_explanation_of_a_miss_shows_the_falsy_branch() -> None:
    explanation = explain(RULE, {"status": "closed", "amount": 1500})
    assert explanation.matched is False
    assert explanation.result is False
    assert find(explanation.root, "$.and[0]").value is False
    assert find(explanation.root, "$.and[1]").evaluated is False


def test_iterator_bodies_report_count_and_last_value() -> None:
    explanation = explain(
        {"some": [{"var": "items"}, {">": [{"var": "price"}, 100]}]},
        {"items": [{"price": 5}, {"price": 150}, {"price": 7}]},
    )
    body = find(explanation.root, "$.some[1]")
    assert (body.count, body.value) == (2, True)
    assert explanation.matched is True


def test_failure_marks_the_path_and_the_node_that_raised() -> None:
    explanation = explain({"or": [False, {"+": [{"var": "qty"}, 1]}]}, {"qty": "many"})
    assert explanation.matched is False
    assert explanation.result is None
    assert isinstance(explanation.error, NaNError)
    assert explanation.error.path == "$.or[1]"
    plus = find(explanation.root, "$.or[1]")
    assert (plus.error, plus.raised) == ("NaN", True)
    assert (explanation.root.error, explanation.root.raised) == ("NaN", False)
    assert find(explanation.root, '$.or[1]["+"][0]').value == "many"


def test_caught_errors_stay_visible_inside_try() -> None:
    explanation = explain({"try": [{"/": [1, 0]}, "fallback"]})
    assert explanation.result == "fallback"
    division = find(explanation.root, "$.try[0]")
    assert (division.error, division.raised) == ("NaN", True)
    assert explanation.root.error is None


def test_render_is_an_indented_line_per_expression() -> None:
    text = explain(RULE, {"status": "active", "amount": 5, "priority": "high"}).render()
    lines = text.splitlines()
    assert lines[0] == "matched: result true"
    assert lines[1] == "+ and => true  $"
    assert "  + == => true  $.and[0]" in lines
    assert '      - var "amount" => 5  $.and[1].or[0][">"][0]' not in lines
    assert '      + var "amount" => 5  $.and[1].or[0][">"][0]' in lines
    assert len(lines) == 1 + 11


def test_render_marks_skipped_and_failed_nodes() -> None:
    skipped = explain({"if": [True, "yes", {"var": "never"}]}).render()
    assert '  . var "never" (not evaluated)  $.if[2]' in skipped.splitlines()
    failed = explain({"/": [1, 0]}).render().splitlines()
    assert failed[0].startswith("error: 'NaN' at $")
    assert failed[1] == "! / => error 'NaN' (raised here)  $"


def test_to_dict_is_json_and_mirrors_the_tree() -> None:
    explanation = explain({"==": [{"var": "when"}, {"var": "when"}]}, {"when": datetime.date(2024, 1, 1)})
    as_dict = explanation.to_dict()
    json.dumps(as_dict)
    assert as_dict["error"]["type"] == "Invalid Data"
    assert as_dict["tree"]["path"] == "$"
    assert [child["path"] for child in as_dict["tree"]["children"]] == ['$["=="][0]', '$["=="][1]']
    assert as_dict["tree"]["children"][0]["value"] == "<date>"


@pytest.mark.parametrize(
    ("rule", "context"),
    [
        (RULE, {"status": "active", "amount": 10, "priority": "low"}),
        ({"map": [{"var": "xs"}, {"*": [{"var": ""}, 2]}]}, {"xs": [1, 2, 3]}),
        ({"missing_some": [1, ["a", "b"]]}, {"b": 0}),
        ({"reduce": [[1, 2, 3], {"+": [{"var": "current"}, {"var": "accumulator"}]}, 10]}, None),
        ({"??": [{"var": "nickname"}, {"var": "name"}]}, {"name": "Ada"}),
        ({"if": [{"var": "obj"}, "object", "none"]}, {"obj": {}}),
    ],
)
def test_explanation_agrees_with_evaluation(rule: Any, context: Any) -> None:
    compiled = compile_rule(rule)
    explanation = compiled.explain(context)
    assert explanation.result == compiled.apply(context)
    assert explanation.matched == compiled.evaluate(context)
    assert explanation.root.value == explanation.result


def test_explaining_a_thousand_level_rule() -> None:
    rule: Any = {"var": "x"}
    for _ in range(1000):
        rule = {"!": [rule]}
    explanation = RuleEngine().explain(rule, {"x": 0})
    assert explanation.result is False
    assert len(explanation.root.render().splitlines()) == 1001
    assert explanation.to_dict()["tree"]["operator"] == "!"
    assert repr(explanation.root) == "ExplainNode(path='$', label='!', children=1)"
    assert "Explanation(result=False" in repr(explanation)
