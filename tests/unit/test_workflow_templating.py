"""Step input templates: native values, text, errors with paths, the sandbox, secret references."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from automate.errors import TemplateError
from automate.runtime import templating
from automate.runtime.templating import TemplateEngine, check, render, step_references


@pytest.fixture
def scope() -> dict[str, Any]:
    return {
        "event": {"id": "ev-1", "payload": {"order_id": "ORD-123", "amount": 150, "tags": ["a", "b"],
                                            "paid": True, "coupon": None}},
        "steps": {"shape": {"output": {"order": "ORD-123", "lines": [{"sku": "x", "qty": 2}]},
                            "status": "SUCCESS"}},
        "execution": {"id": "ex-1", "context": {"order_id": "ORD-123"}, "tenant": "acme"},
    }


# --- native values and text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ event.payload.amount }}", 150),
        ("{{ event.payload.paid }}", True),
        ("{{ event.payload.coupon }}", None),
        ("{{ event.payload.tags }}", ["a", "b"]),
        ("{{ steps.shape.output }}", {"order": "ORD-123", "lines": [{"sku": "x", "qty": 2}]}),
        ("{{ event.payload.amount * 2 + 0.5 }}", 300.5),
        ("{{ event.payload.order_id }}", "ORD-123"),
        ("  {{ event.payload.amount }}\n", 150),
        ("{{- event.payload.amount -}}", 150),
        ("{{ {'order': event.payload.order_id, 'n': [1, 2]} }}", {"order": "ORD-123", "n": [1, 2]}),
        ("{{ event.payload.tags | map('upper') }}", ["A", "B"]),
        ("{{ event.payload.tags | length }}", 2),
        ("{{ event.payload | dictsort | first }}", ["amount", 150]),
        ("{{ '}}' }}", "}}"),
    ],
)
def test_a_single_expression_keeps_its_native_value(
    template: str, expected: Any, scope: dict[str, Any]
) -> None:
    result = render({"v": template}, scope)["v"]
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("order {{ event.payload.order_id }}", "order ORD-123"),
        ("{{ event.payload.amount }}{{ event.payload.amount }}", "150150"),
        ("{{ event.payload.amount }} EUR", "150 EUR"),
        ("paid={{ event.payload.paid }} coupon={{ event.payload.coupon }}", "paid=true coupon=null"),
        ("items={{ event.payload.tags }}", 'items=["a", "b"]'),
        ("{% for i in event.payload.tags %}{{ i }};{% endfor %}", "a;b;"),
        ("{{ event.payload.order_id }}{# a comment #}", "ORD-123"),
        ("line {{ execution.tenant }}\n", "line acme\n"),
        ("{{ event.payload | tojson }}",
         None),  # tojson is a string: checked below
    ],
)
def test_anything_else_renders_to_text(template: str, expected: str | None, scope: dict[str, Any]) -> None:
    result = render(template, scope)
    assert isinstance(result, str)
    if expected is None:
        assert json.loads(result) == scope["event"]["payload"]
    else:
        assert result == expected


def test_documents_are_rendered_recursively_and_left_intact(scope: dict[str, Any]) -> None:
    document = {
        "method": "POST",
        "retries": 3,
        "flag": False,
        "json": {"order": "{{ steps.shape.output.order }}", "lines": ["{{ event.payload.amount }}", 7, None]},
        "{{ keys }}": "are not templates",
    }
    before = copy.deepcopy(document)
    result = render(document, scope)
    assert result == {
        "method": "POST",
        "retries": 3,
        "flag": False,
        "json": {"order": "ORD-123", "lines": [150, 7, None]},
        "{{ keys }}": "are not templates",
    }
    assert document == before


def test_strings_without_jinja_come_back_as_they_are(scope: dict[str, Any]) -> None:
    assert render("plain { text } with {braces}", scope) == "plain { text } with {braces}"


# --- errors name the path and the reason ----------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ event.payload.missing }}", "has no attribute 'missing'"),
        ("total: {{ event.payload.missing }}", "has no attribute 'missing'"),
        ("{{ nothing }}", "'nothing' is undefined"),
        ("{{ [event.payload.missing] }}", "has no attribute 'missing'"),
        ("{{ event.payload.amount / 0 }}", "ZeroDivisionError"),
        ("{{ event.payload.order_id", "syntax error"),
        ("{% if event.payload.paid %}yes", "syntax error"),
        ("{{ event.payload.tags.index }}", "not JSON"),
        ("{{ event.payload.items }}", "not JSON"),  # a dict's method wins over its key in Jinja
    ],
)
def test_errors_name_the_path_and_the_reason(template: str, reason: str, scope: dict[str, Any]) -> None:
    value = {"json": {"lines": ["ok", template]}}
    with pytest.raises(TemplateError) as caught:
        render(value, scope, "$.steps[1].input")
    assert "$.steps[1].input.json.lines[1]" in str(caught.value)
    assert reason in str(caught.value)
    assert caught.value.code == "template"
    assert caught.value.retryable is False


def test_keys_that_are_not_identifiers_are_quoted_in_paths(scope: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match=r'\$\.headers\["X-Order"\]'):
        render({"headers": {"X-Order": "{{ event.nope }}"}}, scope)


def test_defaults_and_tests_handle_missing_values(scope: dict[str, Any]) -> None:
    assert render("{{ event.payload.missing | default('none') }}", scope) == "none"
    assert render("{{ event.payload.missing is defined }}", scope) is False


# --- the sandbox ----------------------------------------------------------------------------------


ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os.environ }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ range(10) | list }}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ request.environ }}",
    "{{ os.environ }}",
    "{{ environ['HOME'] }}",
    "{{ self.__init__.__globals__ }}",
    "{{ event.__class__ }}",
    "{{ event['__class__'] }}",
    "{{ event.payload.items.__self__ }}",
    "{{ '{0.__class__.__mro__}'.format(event) }}",
    "{{ event | attr('__class__') }}",
    "{{ event.payload.tags | map(attribute='__class__') | list }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_python_internals_and_the_environment_are_out_of_reach(template: str, scope: dict[str, Any]) -> None:
    with pytest.raises(TemplateError):
        render({"x": template}, scope)
    with pytest.raises(TemplateError):
        render({"x": f"text {template}"}, scope)


# Attribute names inside strings (format fields, attr filters) only the sandbox sees, at render time.
@pytest.mark.parametrize("template", [t for t in ESCAPES if not any(s in t for s in ("format(", "attr"))])
def test_check_refuses_names_and_internals_before_anything_runs(template: str) -> None:
    faults = check({"x": template}, "$.steps[0].input")
    assert faults
    assert all(path == "$.steps[0].input.x" for path, _ in faults)


def test_no_variable_of_the_process_environment_leaks(
    scope: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMATE_TEST_SECRET", "s3cr3t-value")
    for template in ("{{ AUTOMATE_TEST_SECRET }}", "{{ env.AUTOMATE_TEST_SECRET }}",
                     "{{ environment.AUTOMATE_TEST_SECRET }}"):
        with pytest.raises(TemplateError) as caught:
            render(template, scope)
        assert "s3cr3t-value" not in str(caught.value)
    assert os.environ["AUTOMATE_TEST_SECRET"] == "s3cr3t-value"


def test_templates_cannot_mutate_the_scope(scope: dict[str, Any]) -> None:
    before = copy.deepcopy(scope)
    for template in ("{{ event.payload.tags.append('c') }}", "{{ event.payload.update({'amount': 0}) }}",
                     "{{ event.payload.pop('amount') }}", "{{ steps.shape.output.clear() }}"):
        with pytest.raises(TemplateError, match="unsafe"):
            render(template, scope)
    assert scope == before


@pytest.mark.parametrize(
    "template",
    ["{{ 'a' * 100000000 }}", "{{ [0] * 100000000 }}", "{{ 2 ** 10000000 }}", "{{ '%0999999999d' % 1 }}",
     "{{ 'x' | center(1000000000) }}", "{{ 'x' | indent(1000000000) }}", "{{ 'x' | format(1) }}"],
)
def test_repetition_and_padding_are_bounded(template: str, scope: dict[str, Any]) -> None:
    with pytest.raises(TemplateError):
        render(template, scope)


def test_loading_other_templates_is_refused(scope: dict[str, Any]) -> None:
    for template in ("{% include 'x.txt' %}", "{% import 'x' as y %}", "{% extends 'base' %}"):
        assert check({"x": template}) == [
            ("$.x", "include, import and extends are not available: there are no templates to load")
        ]
        with pytest.raises(TemplateError, match="include, import and extends"):
            render(template, scope)


# --- secret references ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["Bearer $secret:HOOK_TOKEN", "$env:HOME", "$vault:kv/data/app#token", "$aws:arn:aws:secretsmanager:x",
     "user=$secret:DB_USER password=$secret:DB_PASSWORD"],
)
def test_secret_references_pass_through_untouched(text: str, scope: dict[str, Any]) -> None:
    assert render({"headers": {"Authorization": text}}, scope) == {"headers": {"Authorization": text}}


def test_only_the_jinja_part_beside_a_reference_renders(scope: dict[str, Any]) -> None:
    rendered = render("Bearer $secret:HOOK_TOKEN for {{ event.payload.order_id }}", scope)
    assert rendered == "Bearer $secret:HOOK_TOKEN for ORD-123"


@pytest.mark.parametrize("template", ["{{ event.payload.note }}", "note: {{ event.payload.note }}",
                                      "{{ event.payload }}", "{{ event.payload | tojson }}"])
def test_a_reference_arriving_through_data_is_refused(template: str, scope: dict[str, Any]) -> None:
    scope["event"]["payload"]["note"] = "$env:AWS_SECRET_ACCESS_KEY"
    with pytest.raises(TemplateError, match="secret reference from data"):
        render({"body": template}, scope)


@pytest.mark.parametrize("template", ["{{ event.payload.note | default('$secret:MINE') }}",
                                      "x {{ '$secret:MINE' if event.payload.vip else '' }}"])
def test_a_reference_inside_an_expression_is_refused(template: str, scope: dict[str, Any]) -> None:
    """An expression could pick the reference from data (the note's default is only the fallback)."""
    (fault,) = check({"auth": template})
    assert fault[1].startswith("a secret reference must be written in the template's text")
    scope["event"]["payload"]["note"] = "$secret:OTHER"
    with pytest.raises(TemplateError, match="written in the template's text"):
        render({"auth": template}, scope)


def test_data_cannot_add_a_reference_beside_a_written_one(scope: dict[str, Any]) -> None:
    template = "Bearer $secret:A {{ event.payload.note }}"
    scope["event"]["payload"]["note"] = "$secret:A"  # even the same one: data chose to send it twice
    with pytest.raises(TemplateError, match="secret reference from data"):
        render(template, scope)
    scope["event"]["payload"]["note"] = "plain"
    assert render(template, scope) == "Bearer $secret:A plain"
    branch = "{% if event.payload.vip %}Bearer $secret:A {% else %}none{% endif %}"
    assert check({"auth": branch}) == []
    scope["event"]["payload"]["vip"] = False
    assert render(branch, scope) == "none"
    scope["event"]["payload"]["vip"] = True
    assert render(branch, scope) == "Bearer $secret:A "


def test_a_reference_name_cannot_be_templated(scope: dict[str, Any]) -> None:
    template = "Bearer $secret:{{ event.payload.order_id }}"
    assert check({"auth": template}) == [
        ("$.auth", "a secret reference's name must be written out, not templated")
    ]
    with pytest.raises(TemplateError, match="must be written out"):
        render(template, scope)


# --- check ----------------------------------------------------------------------------------------


def test_check_accepts_the_three_roots_and_local_names() -> None:
    value = {
        "a": "{{ event.payload.x }} {{ steps.shape.output }} {{ execution.id }}",
        "b": ["{% for item in event.payload.tags %}{{ item }}{{ loop.index }}{% endfor %}",
              "{% set total = event.payload.amount * 2 %}{{ total }}"],
        "c": 42,
        "d": "no template here",
    }
    assert check(value) == []


def test_check_reports_every_fault_with_its_path() -> None:
    value = {"a": "{{ event.x", "b": [{"c": "{{ secrets.token }}"}], "d": "{{ steps.x }}{{ settings }}"}
    faults = check(value, "$.steps[3].input")
    assert ("$.steps[3].input.b[0].c",
            "unknown variable 'secrets': templates see only event, steps and execution") in faults
    assert ("$.steps[3].input.d",
            "unknown variable 'settings': templates see only event, steps and execution") in faults
    syntax = [f for f in faults if f[0] == "$.steps[3].input.a"]
    assert len(syntax) == 1 and syntax[0][1].startswith("template syntax error:")
    assert len(faults) == 3


def test_step_references_are_found_statically() -> None:
    value = {"a": "{{ steps.shape.output.x }}", "b": ["{{ steps['tax-calc'].output }}"],
             "c": "{{ event.steps.nope }}", "d": "{{ steps[event.name] }}", "e": "{{ bad"}
    assert step_references(value) == {"shape", "tax-calc"}


# --- engine ---------------------------------------------------------------------------------------


def test_compiled_templates_are_cached_and_evicted(scope: dict[str, Any]) -> None:
    engine = TemplateEngine(cache_size=2)
    for _ in range(3):
        assert engine.render("{{ event.payload.amount }}", scope) == 150
    assert engine.render("{{ event.id }}", scope) == "ev-1"
    assert engine.render("x{{ execution.id }}", scope) == "xex-1"
    assert engine.render("{{ event.payload.amount }}", scope) == 150  # recompiled after eviction


def test_a_template_error_is_not_cached_as_success(scope: dict[str, Any]) -> None:
    engine = TemplateEngine()
    with pytest.raises(TemplateError):
        engine.render("{{ event.later }}", scope)
    scope["event"]["later"] = 1
    assert engine.render("{{ event.later }}", scope) == 1


# --- properties -----------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)  # tells True from 1, 1 from 1.0


@given(JSON_VALUES)
def test_a_single_expression_returns_any_json_value_unchanged(value: Any) -> None:
    rendered = render({"x": "{{ event.value }}", "y": ["{{ steps.s.output }}"]},
                      {"event": {"value": value}, "steps": {"s": {"output": value}}, "execution": {}})
    assert _canonical(rendered["x"]) == _canonical(value)
    assert _canonical(rendered["y"][0]) == _canonical(value)


@given(JSON_VALUES.filter(lambda v: not (isinstance(v, str) and templating.is_template(v))))
def test_values_without_templates_render_to_themselves(value: Any) -> None:
    def has_template(v: Any) -> bool:
        if isinstance(v, str):
            return templating.is_template(v)
        if isinstance(v, list):
            return any(has_template(i) for i in v)
        if isinstance(v, dict):
            return any(has_template(i) for i in v.values())
        return False

    if not has_template(value):
        assert _canonical(render(value, {})) == _canonical(value)
