"""``automate rules``: try a JSONLogic rule against a context from the command line.

``automate rules test RULE --context JSON`` prints whether the rule matched, its raw result and the
explain tree (which sub-expressions were true, false, skipped or failed). The exit code makes it usable
in scripts: 0 matched, 1 not matched, 2 bad input (unreadable or invalid JSON, an invalid rule, or a rule
that fails on this context), always with a one-line reason on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import click

from automate.rules import RuleValidationError, compile_rule

__all__ = ["rules"]

EXIT_MATCHED = 0
EXIT_NOT_MATCHED = 1
EXIT_BAD_INPUT = 2


def _bad_input(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(EXIT_BAD_INPUT)


def _read_json(label: str, text: str) -> Any:
    """Parse ``text`` as JSON, or the file it names when it starts with ``@``."""
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            _bad_input(f"cannot read {label} file {str(path)!r}: {getattr(error, 'strerror', None) or error}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        _bad_input(f"{label} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})")
    except RecursionError:
        _bad_input(f"{label} nests too deeply to read")


@click.group(name="rules", context_settings={"help_option_names": ["-h", "--help"]})
def rules() -> None:
    """Check JSONLogic rules (triggers and step conditions) before deploying them."""


@rules.command(name="test")
@click.argument("rule")
@click.option(
    "--context",
    "-c",
    "context_text",
    default="{}",
    show_default=True,
    help="The data to evaluate against: a JSON document, or @path/to/file.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON instead of a tree.")
def test_rule(rule: str, context_text: str, as_json: bool) -> None:
    """Evaluate RULE (JSON, or @path/to/rule.json) against the context and explain the outcome.

    Exit status: 0 when the rule matches, 1 when it does not, 2 on bad input or an evaluation error.
    """
    rule_value = _read_json("RULE", rule)
    context = _read_json("--context", context_text)
    try:
        compiled = compile_rule(rule_value)
    except RuleValidationError as error:
        _bad_input(f"invalid rule: {error}")
    explanation = compiled.explain(context)
    if as_json:
        click.echo(json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(explanation.render())
    failure = explanation.error
    if failure is not None:
        _bad_input(f"the rule failed with {failure.type!r} at {failure.path}: {failure.message}")
    raise SystemExit(EXIT_MATCHED if explanation.matched else EXIT_NOT_MATCHED)
