"""Hostile step input templates (issue 16, finding 2): templates that would grow memory without bound,
make huge numbers, loop or recurse without end, print too much or run for ever. Through the live workers,
each ends its step FAILED with ``template.limit`` (refused methods with ``template``), its execution FAILED
with a dead letter; the runtime worker stays up and the other tenant's canary still runs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from automate.errors import WorkflowValidationError
from tests.hostile.pipeline import LivePipeline
from tests.support import assert_eventually

EVENT = "hostile.template"
MACRO_DOUBLING = "{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s }}{% endmacro %}{{ d('ab', 64) }}"
MACRO_SQUARING = "{% macro sq(x, n) %}{{ sq(x * x, n - 1) if n else x }}{% endmacro %}{{ sq(3, 30) }}"
MACRO_BRANCHING = "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
BIG = "event.payload.big"

# class -> (the code each step fails with, {step id: its input})
CASES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "string": ("template.limit", {
        "ljust": {"v": "{{ 'a'.ljust(4000000000) }}"},
        "center": {"v": "{{ 'a'.center(4000000000) }}"},
        "zfill": {"v": "{{ 'a'.zfill(4000000000) }}"},
        "expandtabs": {"v": "{{ event.payload.tabs.expandtabs(4000000) }}"},
        "format-width": {"v": "{{ '{:>4000000000}'.format(1) }}"},
        "format-fields": {"v": "{{ '{0:>999999}{0:>999999}'.format(1) }}"},
        "format-map": {"v": "{{ '{v:>{w}}'.format_map({'v': 1, 'w': 4000000000}) }}"},
        "format-repr": {"v": "{{ '{0!r}'.format([" + BIG + "] * 1000) }}"},
        "replace": {"v": "{{ " + BIG + " | replace('x', 'yyyyyyyyyyyy') }}"},
        "join-method": {"v": "{{ ','.join([" + BIG + "] * 100) }}"},
        "join-filter": {"v": "{{ ([" + BIG + "] * 100) | join(',') }}"},
        "tojson": {"v": "{{ ([" + BIG + "] * 1000) | tojson }}"},
        "tojson-indent": {"v": "{{ event.payload | tojson(indent=100000) }}"},
        "concat-list": {"v": "{{ ([" + BIG + "] * 1000) ~ '' }}"},
        "string-filter": {"v": "{{ ([" + BIG + "] * 1000) | string }}"},
        "repeat": {"v": "{{ 'a' * 100000000 }}"},
        "plus-chain": {"v": "{{ " + " + ".join([BIG] * 11) + " }}"},
        "macro-doubling": {"v": MACRO_DOUBLING},
        "sum-lists": {"v": "{{ ([[1] * 10000] * 1000) | sum(start=[]) | length }}"},
        "text-printing": {"v": "x{{ [" + BIG + "] * 1000 }}"},
    }),
    "number": ("template.limit", {
        "power-tower": {"v": "{{ ((2**1024)**1024)**1024 }}"},
        "power": {"v": "{{ 2 ** 100000 }}"},
        "product": {"v": "{{ 10 ** 999 * 10 ** 999 }}"},
        "squaring": {"v": MACRO_SQUARING},
        "int-filter": {"v": "{{ ('9' * 2000) | int }}"},
    }),
    "work": ("template.limit", {
        "nested-loops": {"v": "{% for a in event.payload.rows %}{% for b in event.payload.rows %}{% endfor %}"
                              "{% endfor %}"},
        "recursive-loop": {"v": "{% for a in event.payload.rows recursive %}{% if loop.depth < 3 %}"
                                "{{ loop(event.payload.rows) }}{% endif %}{% endfor %}"},
        "batch": {"v": "{{ [1] | batch(4000000000, 'x') }}"},
        "slice": {"v": "{{ [1] | slice(4000000000, 'x') }}"},
    }),
    "depth": ("template.limit", {
        "recursion": {"v": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"},
        "recursive-loop": {"v": "{% for a in event.payload.rows recursive %}{{ loop([a]) }}{% endfor %}"},
        "deep-value": {"v": "{{ event.payload.deep }}"},
        "deep-text": {"v": "x{{ event.payload.deep }}"},
    }),
    "output": ("template.limit", {
        "many-fields": {f"f{i}": "{{ " + BIG + " }}" for i in range(20)},
        "loop-output": {"v": "{% for r in event.payload.rows %}{{ " + BIG + " }}{% endfor %}"},
        "value": {"v": "{{ [" + BIG + "] * 1000 }}"},
    }),
    "time": ("template.limit", {
        "branching": {"v": MACRO_BRANCHING},
    }),
    "refused": ("template", {
        "encode": {"v": "{{ 'a'.encode() }}"},
        "translate": {"v": "{{ 'a'.translate({}) }}"},
        "to-bytes": {"v": "{{ (1).to_bytes(4000000000, 'big') }}"},
        "indent": {"v": "{{ 'a' | indent(1000000000) }}"},  # refused when applied: no such filter
    }),
}
WAIT = {"slug": "hostile-template-wait", "name": "a core.wait whose seconds template runs away",
        "trigger": {"event": EVENT},
        "steps": [{"id": "wait", "action": "core.wait", "input": {"seconds": MACRO_DOUBLING}}]}


def _nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


PAYLOAD = {"rows": list(range(2000)), "big": "x" * 100_000, "tabs": "\t" * 1000, "deep": _nested(150)}


def workflow(name: str, steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One workflow per class: its cases are parallel steps, each failing on its own."""
    return {"slug": f"hostile-template-{name}", "name": f"hostile templates: {name}",
            "trigger": {"event": EVENT},
            "steps": [{"id": step, "action": "core.transform", "input": value}
                      for step, value in steps.items()]}


def emit_for_all(live: LivePipeline, count: int, timeout: float = 120.0) -> str:
    """Emit until one event starts all ``count`` executions (the processors load workflows just applied
    on their NOTIFY: an event that overtakes one starts fewer); returns that event's id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event_id = live.emit(EVENT, PAYLOAD)
        try:
            assert_eventually(lambda e=event_id: len(live.executions(e)) >= count or None,  # type: ignore[misc]
                              timeout=10, interval=0.5)
        except AssertionError:
            continue
        return event_id
    raise AssertionError(f"no {EVENT} event started {count} executions within {timeout}s")


def test_runaway_templates_fail_their_steps_typed_and_the_runtime_goes_on(live: LivePipeline) -> None:
    refused = [case for case in CASES["refused"][1] if case != "indent"]
    for name, (_code, steps) in CASES.items():
        if name == "refused":  # a filter that does not exist is refused when the workflow is applied
            assert_refused_when_applied(live, steps.pop("indent"))
            steps = {case: steps[case] for case in refused}
        live.apply(workflow(name, steps))
    live.apply(WAIT)
    event_id = emit_for_all(live, len(CASES) + 1)
    settled = {ident: (status, code) for ident, status, code in live.settled(event_id, len(CASES) + 1,
                                                                              timeout=180)}
    slugs = dict(live.query("SELECT e.id::text, a.slug FROM execution e JOIN automation a "
                            "ON a.id = e.automation_id WHERE e.event_id = %s", event_id))
    by_slug = {slugs[ident]: outcome for ident, outcome in settled.items()}
    letters = live.dead_letters()
    for name, (code, steps) in CASES.items():
        slug = f"hostile-template-{name}"
        assert by_slug[slug] == ("FAILED", code), (slug, by_slug[slug])
        (execution_id,) = [ident for ident, s in slugs.items() if s == slug]
        rows = live.query("SELECT step_id, status, error_code, error_message FROM step_run "
                          "WHERE execution_id = %s", execution_id)
        wanted = refused if name == "refused" else list(steps)
        assert sorted(r[0] for r in rows) == sorted(wanted), rows
        assert all(r[1] == "FAILED" and r[2] == code for r in rows), rows
        assert all(r[3].startswith("template at $.") for r in rows), rows
        lettered = {r["step_id"] for r in letters if r["execution_id"] == execution_id}
        assert lettered == set(wanted), (slug, lettered)
    assert by_slug[WAIT["slug"]] == ("FAILED", "template.limit")
    assert not live.query("SELECT 1 FROM execution WHERE status = 'RUNNING' AND event_id = %s", event_id)
    live.assert_healthy()


def assert_refused_when_applied(live: LivePipeline, step_input: dict[str, Any]) -> None:
    with pytest.raises(WorkflowValidationError, match="No filter named 'indent'"):
        live.apply(workflow("refused-filter", {"indent": step_input}))
