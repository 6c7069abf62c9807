"""Hostile rules (issue 16, finding 2): trigger rules and ``when`` rules that would build without bound
(``reduce`` doubling a string with ``cat``, an array with ``merge``, one large value repeated) or work
without end (iterators inside iterators, large values gone through once per item). Through the live
workers: a trigger rule past a limit does not match, is counted (``automate_processor_rule_limits``) and
logged, and the processors go on to the next candidate and the next event; a ``when`` rule past a limit
fails its step and its execution with ``rules.limit`` and a dead letter. The workers stay up and the
other tenant's canary still runs."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

from automate.metrics import targets_file
from tests.hostile.pipeline import LivePipeline
from tests.support import assert_eventually


def acc() -> dict[str, Any]:
    return {"var": "accumulator"}


def rules_over(*data: str) -> dict[str, Any]:
    """Runaway rules over the event's fields, found under the keys ``data`` (none for a trigger rule,
    which sees the payload; ``event``, ``payload`` for a ``when`` rule)."""
    def var(name: str) -> dict[str, Any]:
        return {"var": ".".join((*data, name))}

    def up(name: str, depth: int = 1) -> dict[str, Any]:
        """A value of the whole data, from inside ``depth`` iterator bodies (``val`` climbs a scope and
        its index per level)."""
        return {"val": [[2 * depth], *data, name]}

    return {
        # string
        "cat-doubling": {"reduce": [var("rows"), {"cat": [acc(), acc()]}, "ab"]},
        "cat-repeated": {"cat": [var("big")] * 50},
        "cat-of-repeated-array": {"cat": [{"map": [var("rows"), up("big")]}]},
        "substr-of-repeated-array": {"substr": [{"map": [var("rows"), up("big")]}, 0, 5]},
        "try-does-not-catch": {"try": [{"reduce": [var("rows"), {"cat": [acc(), acc()]}, "ab"]}, True]},
        # array
        "merge-doubling": {"reduce": [var("rows"), {"merge": [acc(), acc()]}, [1]]},
        "merge-repeated": {"merge": [var("rows")] * 300},
        # work
        "map-in-map": {"map": [var("rows"), {"map": [up("rows"), {"var": ""}]}]},
        "some-in-some-in-some": {"some": [var("rows"), {"some": [up("rows"), {"some": [
            up("rows", 2), {"==": [{"var": ""}, -1]}]}]}]},
        "compare-large-per-item": {"some": [var("rows"), {"==": [up("big"), up("other")]}]},
        "parse-long-number-per-item": {"map": [var("rows"), {"+": [up("number"), 1]}]},
        "scan-list-per-item": {"some": [var("rows"), {"in": ["absent", up("rows")]}]},
    }


PAYLOAD = {"rows": list(range(5000)), "big": "x" * 100_000, "other": "x" * 99_999 + "y",
           "number": "1" * 100_000}
TRIGGER_EVENT = "hostile.rule"
CONTROL: dict[str, Any] = {"slug": "hostile-rule-control", "name": "matches every hostile.rule event",
           "trigger": {"event": TRIGGER_EVENT, "rule": {">": [{"var": "rows.0"}, -1]}},
           "steps": [{"id": "noop", "action": "core.noop"}]}


def emit_matched(live: LivePipeline, type: str, slug: str, count: int = 1, timeout: float = 120.0) -> str:
    """Emit until an event starts ``count`` executions (the processors load workflows just applied on
    their NOTIFY: an event that overtakes them starts fewer); returns that event's id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event_id = live.emit(type, PAYLOAD)
        try:
            assert_eventually(lambda e=event_id: len(live.executions(e)) >= count or None,  # type: ignore[misc]
                              timeout=15, interval=0.5)
        except AssertionError:
            continue
        return event_id
    raise AssertionError(f"no {type} event started {count} executions ({slug}) within {timeout}s")


def processor_metric(live: LivePipeline, name: str) -> dict[str, float]:
    """A counter of the live processors worker, by its ``workflow`` label, read from its /metrics (the
    worker announces its endpoint in the local Prometheus' targets file, labelled with its pid)."""
    pid = str(live.workers.procs["processors"][0].pid)
    groups = json.loads(targets_file(live.base).read_text())
    (target,) = [g["targets"][0] for g in groups if g.get("labels", {}).get("pid") == pid]
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    pattern = re.compile(rf'^{name}_total\{{workflow="([^"]+)"\}} ([0-9.e+]+)$', re.M)
    return {slug: float(value) for slug, value in pattern.findall(text)}


def test_trigger_rules_past_a_limit_do_not_match_are_counted_and_the_processors_go_on(
        live: LivePipeline) -> None:
    hostile = rules_over()
    slugs = {case: f"hostile-rule-{case}" for case in hostile}
    for case, rule in hostile.items():
        live.apply({"slug": slugs[case], "name": f"trigger rule: {case}",
                    "trigger": {"event": TRIGGER_EVENT, "rule": rule},
                    "steps": [{"id": "never", "action": "core.noop"}]})
    live.apply(CONTROL)  # applied last: once it matches, every hostile trigger is loaded too
    started = time.monotonic()
    event_id = emit_matched(live, TRIGGER_EVENT, CONTROL["slug"])
    # The control's execution, nothing for the hostile triggers (their rules went past a limit).
    [(_, status, _)] = live.settled(event_id)
    assert status == "SUCCESS"
    assert time.monotonic() - started < 120
    def counted() -> dict[str, float]:
        found = processor_metric(live, "automate_processor_rule_limits")
        assert all(found.get(slug, 0) >= 1 for slug in slugs.values()), found
        return found

    assert_eventually(counted, timeout=30, interval=1)
    log = (live.workers.log_dir / "processors-0.log").read_text(errors="replace")
    assert log.count("rule went past a limit on an event; the trigger does not match it") >= len(slugs)
    assert not live.query("SELECT 1 FROM execution e JOIN automation a ON a.id = e.automation_id "
                          "WHERE a.slug LIKE 'hostile-rule-%%' AND a.slug <> %s", CONTROL["slug"])
    live.assert_healthy()


def test_when_rules_past_a_limit_fail_their_steps_typed(live: LivePipeline) -> None:
    hostile = rules_over("event", "payload")
    slug = "hostile-when-rules"
    live.apply({"slug": slug, "name": "runaway when rules, one per parallel step",
                "trigger": {"event": "hostile.when"},
                "steps": [{"id": "first", "action": "core.noop"}]
                + [{"id": case, "action": "core.noop", "needs": ["first"], "when": rule}
                   for case, rule in hostile.items()]})
    event_id = emit_matched(live, "hostile.when", slug)
    [(execution_id, status, code)] = live.settled(event_id, timeout=120)
    assert (status, code) == ("FAILED", "rules.limit")
    rows = {r[0]: (r[1], r[2]) for r in live.query(
        "SELECT step_id, status, error_code FROM step_run WHERE execution_id = %s", execution_id)}
    assert rows.pop("first") == ("SUCCESS", None)
    assert rows == {case: ("FAILED", "rules.limit") for case in hostile}, rows
    def lettered() -> set[tuple[str, str]]:
        found = {(r["step_id"], r["error_code"]) for r in live.dead_letters()
                 if r["execution_id"] == execution_id}
        assert found == {(case, "rules.limit") for case in hostile}, found
        return found

    assert_eventually(lettered, timeout=60, interval=1)
    live.assert_healthy()
