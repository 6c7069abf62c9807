"""``automate rules test``: output and exit codes (0 matched, 1 not matched, 2 bad input)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from automate.cli.rules import rules

RULE = json.dumps({"and": [{"==": [{"var": "status"}, "active"]}, {">": [{"var": "amount"}, 100]}]})


def run(*arguments: str) -> Result:
    return CliRunner().invoke(rules, list(arguments))


def test_matching_rule_exits_zero_and_prints_result_and_tree() -> None:
    result = run("test", RULE, "--context", '{"status": "active", "amount": 150}')
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "matched: result true"
    assert lines[1] == "+ and => true  $"
    assert '    + var "amount" => 150  $.and[1][">"][0]' in lines


def test_non_matching_rule_exits_one() -> None:
    result = run("test", RULE, "-c", '{"status": "closed", "amount": 150}')
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "not matched: result false"
    assert "  . > (not evaluated)  $.and[1]" in result.stdout.splitlines()


def test_rule_and_context_can_come_from_files(tmp_path: Path) -> None:
    rule_file = tmp_path / "rule.json"
    rule_file.write_text(RULE, encoding="utf-8")
    context_file = tmp_path / "context.json"
    context_file.write_text('{"status": "active", "amount": 101}', encoding="utf-8")
    result = run("test", f"@{rule_file}", "--context", f"@{context_file}")
    assert result.exit_code == 0


def test_json_output_is_the_explanation_as_json() -> None:
    result = run("test", '{"map": [[1, 2], {"*": [{"var": ""}, 10]}]}', "--json")
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["result"] == [10, 20]
    assert payload["tree"]["children"][1]["count"] == 2


def test_default_context_is_empty_object() -> None:
    result = run("test", '{"missing": ["order_id"]}')
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == 'matched: result ["order_id"]'


def test_invalid_json_exits_two_with_one_line() -> None:
    result = run("test", '{"==": [1,')
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: RULE is not valid JSON")


def test_invalid_context_exits_two() -> None:
    result = run("test", RULE, "--context", "not json")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --context is not valid JSON")


def test_unreadable_file_exits_two(tmp_path: Path) -> None:
    result = run("test", f"@{tmp_path / 'absent.json'}")
    assert result.exit_code == 2
    assert "cannot read RULE file" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_invalid_rule_exits_two_with_its_path() -> None:
    result = run("test", '{"and": [true, {"frobnicate": 1}]}')
    assert result.exit_code == 2
    assert result.stderr == "error: invalid rule: unknown operator 'frobnicate' (at $.and[1])\n"


def test_evaluation_error_exits_two_after_the_tree() -> None:
    result = run("test", '{"+": [{"var": "qty"}, 1]}', "-c", '{"qty": "lots"}')
    assert result.exit_code == 2
    assert "! + => error 'NaN' (raised here)  $" in result.stdout.splitlines()
    assert result.stderr.startswith("error: the rule failed with 'NaN' at $:")
    assert len(result.stderr.splitlines()) == 1


def test_help_describes_exit_codes() -> None:
    result = run("test", "--help")
    assert result.exit_code == 0
    assert "0 when the rule matches, 1 when it does not, 2 on bad input" in " ".join(result.stdout.split())
