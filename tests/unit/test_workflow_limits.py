"""Workflow definitions are bounded before anything walks them: size, nesting, steps, YAML aliases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automate.errors import WorkflowValidationError
from automate.runtime.actions import registry
from automate.runtime.workflows import validate
from automate.runtime.workflows.files import load
from automate.runtime.workflows.limits import MAX_DEFINITION_BYTES, MAX_DEPTH, MAX_STEPS

GOOD = "slug: ok\nname: ok\nsteps:\n  - id: a\n    action: core.noop\n"


def laughs() -> str:
    """Ten levels of eight aliases each: 8**10 strings once anything expands the document."""
    lines = ["slug: lol", "name: lol", 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(9):
        prev, this = chr(97 + i), chr(98 + i)
        lines.append(f"{this}: &{this} [" + ", ".join([f"*{prev}"] * 8) + "]")
    lines.append("steps: [{id: a, action: core.noop, input: {bomb: *j}}]")
    return "\n".join(lines)


def refused(path: Path) -> str:
    with pytest.raises(WorkflowValidationError) as raised:
        load(path)
    return raised.value.message


def test_a_plain_file_still_loads(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(GOOD)
    assert load(tmp_path / "ok.yaml").slug == "ok"


def test_yaml_aliases_are_refused_before_they_expand(tmp_path: Path) -> None:
    (tmp_path / "laughs.yaml").write_text(laughs())
    assert "aliases are not allowed" in refused(tmp_path / "laughs.yaml")


def test_a_file_above_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(GOOD + "# " + "x" * MAX_DEFINITION_BYTES + "\n")
    assert f"above the limit of {MAX_DEFINITION_BYTES} bytes" in refused(path)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_nesting_beyond_any_parser_is_a_validation_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"deep{suffix}"
    path.write_text('{"slug": "d", "name": "d", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "nested deeper than" in refused(path)


def test_nesting_beyond_the_limit_is_refused_with_its_path(tmp_path: Path) -> None:
    deep: object = "leaf"
    for _ in range(MAX_DEPTH + 1):
        deep = {"k": deep}
    definition = {"slug": "d", "name": "d", "steps": [{"id": "a", "action": "core.noop", "input": deep}]}
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(definition))
    message = refused(path)
    assert f"nested deeper than {MAX_DEPTH} levels" in message and "$.steps[0].input.k" in message
    with pytest.raises(WorkflowValidationError):
        validate(definition, registry.names())  # the same check for a definition handed over as a dict


def test_more_steps_than_the_limit_are_refused() -> None:
    steps = [{"id": f"s{i}", "action": "core.noop"} for i in range(MAX_STEPS + 1)]
    with pytest.raises(WorkflowValidationError) as raised:
        validate({"slug": "many", "name": "many", "steps": steps}, registry.names())
    assert f"above the limit of {MAX_STEPS}" in raised.value.message
