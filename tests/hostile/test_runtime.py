"""Hostile runtime work (issue 16, findings 3 and 4): `when` rules that raise, errors nothing expected,
delays longer than the longest retry tier (a 2 h ``core.wait``, ``retry.max: 1d``, a year's
``Retry-After``) and executions that run past their deadline. Each ends typed (a FAILED execution with
its code and a dead letter) or waits without holding anyone else up and without running early; the workers
stay up and the other tenant's canary still runs."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from automate import transport
from automate.records import Records
from automate.step_tasks import DUE_AT_HEADER, HOPS_HEADER, TARGET_HEADER
from tests.hostile.pipeline import ATTACKER, LivePipeline
from tests.integration.peers import http_peer
from tests.support import assert_eventually, consume, header

HOUR_MS = 3_600_000


def workflow_topic(live: LivePipeline, slug: str) -> str:
    """The workflow's topic, as the automation row names it (else the slug's)."""
    if live.query("SELECT 1 FROM information_schema.columns WHERE table_name = 'automation' "
                  "AND column_name = 'topic'"):
        return str(live.query("SELECT topic FROM automation WHERE slug = %s AND tenant = %s",
                              slug, ATTACKER)[0][0])
    return live.base.topic(f"workflow.{slug}")


def steps_of(live: LivePipeline, execution_id: str) -> list[tuple[str, int, str, str | None]]:
    return [(r[0], r[1], r[2], r[3]) for r in live.query(
        "SELECT step_id, attempt, status, error_code FROM step_run WHERE execution_id = %s "
        "ORDER BY started_at, attempt", execution_id)]


def letters_of(live: LivePipeline, execution_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The dead letters of one execution, waiting until there is one."""
    return assert_eventually(lambda: [r for r in live.dead_letters() if r["execution_id"] == execution_id],
                             timeout=timeout, interval=1.0)


def one_execution(live: LivePipeline, event_id: str, timeout: float = 60.0) -> tuple[str, str, str | None]:
    found = assert_eventually(lambda: live.executions(event_id), timeout=timeout, interval=0.2)
    assert len(found) == 1, found
    return found[0]


def emit_started(live: LivePipeline, type: str, payload: dict[str, Any], timeout: float = 60.0) -> str:
    """Emit until an event starts an execution (the processors load a workflow just applied on its
    NOTIFY: an event that overtakes it starts nothing); returns that event's id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event_id = live.emit(type, payload)
        try:
            assert_eventually(lambda e=event_id: live.executions(e), timeout=5, interval=0.2)
        except AssertionError:
            continue
        return event_id
    raise AssertionError(f"no {type} event started an execution within {timeout}s")


def produce(live: LivePipeline, topic: str, value: bytes, *, key: bytes | None = None, partition: int = -1,
            headers: list[tuple[str, bytes]] | None = None, timestamp: int = 0) -> None:
    producer = transport.producer(live.base)
    producer.produce(topic, value, key=key, partition=partition, headers=headers, timestamp=timestamp)
    assert producer.flush(30) == 0


# --- a `when` rule that raises ---------------------------------------------------------------------------

RAISING_RULES = {
    "throw": ({"throw": "no such thing"}, "rules.thrown"),
    "throw an object": ({"throw": {"var": "event.payload"}}, "rules.thrown"),
    "throw from a branch": ({"if": [{"var": "event.payload.go"}, {"throw": "x"}, True]}, "rules.thrown"),
    "past the rule limits": ({"reduce": [list(range(64)), {"cat": [{"var": "accumulator"},
                                                                    {"var": "accumulator"}]}, "ab"]},
                             "rules.limit"),  # a string doubled 64 times
}


@pytest.mark.parametrize("case", sorted(RAISING_RULES))
def test_a_when_rule_that_raises_fails_its_step_typed(live: LivePipeline, case: str) -> None:
    rule, code = RAISING_RULES[case]
    slug = f"raising-when-{sorted(RAISING_RULES).index(case)}"
    live.apply({"slug": slug, "name": "a when that raises", "trigger": {"event": f"{slug}.go"}, "steps": [
        {"id": "first", "action": "core.noop"},
        {"id": "guarded", "action": "core.noop", "needs": ["first"], "when": rule},
        {"id": "after", "action": "core.log", "needs": ["guarded"], "input": {"message": "never"}}]})
    event_id = emit_started(live, f"{slug}.go", {"go": True})
    [(execution_id, status, error)] = live.settled(event_id)
    assert (status, error) == ("FAILED", code)
    assert [s[:3] for s in steps_of(live, execution_id)] == [("first", 1, "SUCCESS"),
                                                             ("guarded", 1, "FAILED")]
    assert [(r["kind"], r["error_code"], r["step_id"]) for r in letters_of(live, execution_id)] == [
        ("step", code, "guarded")]
    live.assert_healthy()


# --- errors nothing expected: the execution fails typed, with a dead letter ------------------------------

ECHO = {"slug": "echo", "name": "echo", "trigger": {"event": "echo.go"},
        "steps": [{"id": "shape", "action": "core.transform", "input": {"v": "{{ event.payload.v }}"}}]}


def request(records: Records, automation_id: str, context: str, slug: str = "echo",
            event_id: str | None = None) -> tuple[str, bytes]:
    ident = str(uuid.uuid4())
    return ident, records.encode("ExecutionRequest", {
        "execution_id": ident, "tenant": ATTACKER, "automation_id": automation_id, "workflow_slug": slug,
        "workflow_version": 1, "event_id": event_id or str(uuid.uuid4()), "event_type": "echo.go",
        "context": context, "requested_at": int(time.time() * 1000)})


def test_an_unexpected_error_fails_the_execution_typed_and_the_worker_goes_on(live: LivePipeline) -> None:
    automation_id = live.apply(ECHO)
    records = Records.load(live.base)
    contexts = {  # what the engine's reading of a request raises on (not a typed error of its own)
        "context cut short": '{"v": ',
        "nested beyond any parser": "[" * 200_000 + "]" * 200_000,
        "an integer beyond Python's 4,300 digits": '{"v": ' + "9" * 5000 + "}",
    }
    made = {name: request(records, automation_id, context) for name, context in contexts.items()}
    # Readable, but a write Postgres refuses (not an outage): the last resort fails the execution.
    made["an event id that is no UUID"] = request(records, automation_id, "{}", event_id="not-a-uuid")
    made["an event id of 10,000 characters"] = request(records, automation_id, "{}", event_id="e" * 10_000)
    for _name, (_ident, value) in made.items():
        produce(live, workflow_topic(live, "echo"), value)
    good = emit_started(live, "echo.go", {"v": 1})
    assert [status for _, status, _ in live.settled(good)] == ["SUCCESS"]
    for name, (ident, _value) in made.items():
        row = assert_eventually(lambda i=ident: live.query(  # type: ignore[misc]
            "SELECT status, error->>'code' FROM execution WHERE id = %s AND status = 'FAILED'", i),
            timeout=60)
        # A context that cannot be read is refused typed by the engine's own check, else by the last resort.
        codes = {"execution.internal"} if "event id" in name else {"execution.internal",
                                                                    "execution.context_invalid"}
        assert len(row) == 1 and row[0][1] in codes, (name, row)
        assert [(r["kind"], r["error_code"]) for r in letters_of(live, ident)] == [("step", row[0][1])]
    live.assert_healthy()


def test_a_step_whose_action_raises_unexpectedly_fails_typed(live: LivePipeline) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000  # JSON the action's parser recurses into until it gives up
    # (RecursionError: no error of the project's, raised inside the action)
    with http_peer(lambda _r: (200, {"Content-Type": "application/json"}, deep)) as peer:
        live.apply({"slug": "deep-answer", "name": "an answer nested too deep",
                    "trigger": {"event": "deep.go"}, "steps": [
                        {"id": "call", "action": "http.request", "input": {"url": f"{peer.url}/deep"}},
                        {"id": "after", "action": "core.noop", "needs": ["call"]}]})
        event_id = emit_started(live, "deep.go", {})
        [(execution_id, status, code)] = live.settled(event_id)
    # An action's bug: the connector framework's code for it, or the runtime's for a plain action.
    assert status == "FAILED" and code in ("internal", "action.internal"), code
    assert steps_of(live, execution_id) == [("call", 1, "FAILED", code)]
    assert [(r["kind"], r["error_code"], r["step_id"]) for r in letters_of(live, execution_id)] == [
        ("step", code, "call")]
    live.assert_healthy()


# --- delays longer than the longest tier ---------------------------------------------------------------


def tasks_on(live: LivePipeline, tier: str, until: Any, timeout: float = 60.0) -> list[Any]:
    return consume(live.base.bootstrap_servers, live.base.topic(f"retry.{tier}"), until, timeout=timeout)


def test_a_two_hour_wait_neither_runs_early_nor_holds_up_a_quick_record_behind_it(live: LivePipeline) -> None:
    live.apply({"slug": "long-wait", "name": "2 h", "trigger": {"event": "long.wait"}, "steps": [
        {"id": "pause", "action": "core.wait", "input": {"seconds": 7200}},
        {"id": "after", "action": "core.log", "needs": ["pause"], "input": {"message": "two hours later"}}]})
    quick_id = live.apply({"slug": "quick", "name": "quick", "trigger": {"event": "quick.go"},
                           "steps": [{"id": "only", "action": "core.noop"}]})
    before = int(time.time() * 1000)
    event_id = emit_started(live, "long.wait", {})
    execution_id, _, _ = one_execution(live, event_id)
    assert_eventually(lambda: steps_of(live, execution_id) == [("pause", 1, "RETRYING", "wait")], timeout=60)
    # Its task went to the longest tier, due in two hours.
    [task] = [m for m in tasks_on(live, "1h", lambda ms: any(m.key() == execution_id.encode() for m in ms))
              if m.key() == execution_id.encode()]
    due_ms = int(header(task, DUE_AT_HEADER) or b"0")
    assert before + 2 * HOUR_MS <= due_ms <= int(time.time() * 1000) + 2 * HOUR_MS
    # The same task as it is an hour later (it has waited its tier's delay), with a request due at once
    # behind it on the same partition (another than the fresh task's, which is held for its hour).
    partition = (task.partition() + 1) % 3
    produce(live, task.topic(), task.value(), key=task.key(), partition=partition,
            headers=list(task.headers()), timestamp=int(time.time() * 1000) - HOUR_MS - 1000)
    quick_execution, value = request(Records.load(live.base), quick_id, "{}", slug="quick")
    produce(live, task.topic(), value, key=quick_execution.encode(), partition=partition, headers=[
        (DUE_AT_HEADER, str(int(time.time() * 1000)).encode()),
        (TARGET_HEADER, workflow_topic(live, "quick").encode())])
    sent = time.monotonic()
    assert_eventually(lambda: live.query("SELECT status FROM execution WHERE id = %s", quick_execution)
                      == [("SUCCESS",)], timeout=60, interval=0.2)
    assert time.monotonic() - sent < 45  # not an hour
    # The stale copy hopped back onto the longest tier, its due time and target unchanged.
    hopped = tasks_on(live, "1h", lambda ms: any(header(m, HOPS_HEADER) for m in ms))
    [copy] = [m for m in hopped if header(m, HOPS_HEADER)]
    assert (copy.value(), header(copy, DUE_AT_HEADER), header(copy, HOPS_HEADER)) == (
        task.value(), str(due_ms).encode(), b"1")
    # And nothing ran early: the wait is still parked, the step after it never started.
    assert steps_of(live, execution_id) == [("pause", 1, "RETRYING", "wait")]
    assert live.executions(event_id)[0][1] == "RUNNING"
    live.assert_healthy()


@pytest.mark.parametrize("case", ["retry.max: 1d", "Retry-After of a year, retry.max: 1d"])
def test_a_retry_a_day_away_waits_on_the_longest_tier_and_never_runs_early(live: LivePipeline,
                                                                             case: str) -> None:
    fail: dict[str, Any] = {"code": "upstream_5xx", "message": "try tomorrow", "retryable": True}
    retry: dict[str, Any] = {"max_attempts": 2, "initial": "1d", "max": "1d", "jitter": 0}
    if "Retry-After" in case:
        fail["retry_after"] = 31_536_000
        retry = {"max_attempts": 2, "initial": "1s", "max": "1d"}
    slug = "tomorrow" if "Retry-After" not in case else "next-year"
    live.apply({"slug": slug, "name": case, "trigger": {"event": f"{slug}.go"}, "steps": [
        {"id": "call", "action": "core.fail", "input": fail, "retry": retry}]})
    before = int(time.time() * 1000)
    event_id = emit_started(live, f"{slug}.go", {})
    execution_id, _, _ = one_execution(live, event_id)
    assert_eventually(lambda: steps_of(live, execution_id) == [("call", 1, "RETRYING", "upstream_5xx")],
                      timeout=60)
    [task] = [m for m in tasks_on(live, "1h", lambda ms: any(m.key() == execution_id.encode() for m in ms))
              if m.key() == execution_id.encode()]
    due_ms = int(header(task, DUE_AT_HEADER) or b"0")
    assert due_ms <= int(time.time() * 1000) + 24 * HOUR_MS  # capped at the policy's max
    if "Retry-After" not in case:
        assert due_ms >= before + 24 * HOUR_MS
    time.sleep(3)
    assert steps_of(live, execution_id) == [("call", 1, "RETRYING", "upstream_5xx")]  # not early
    assert live.executions(event_id)[0][1] == "RUNNING"
    live.assert_healthy()


# --- an execution past its deadline ---------------------------------------------------------------------


def test_an_execution_past_its_timeout_is_swept_failed_and_its_late_steps_do_not_run(
        live: LivePipeline) -> None:
    live.apply({"slug": "too-slow", "name": "3 s to do an hour's wait", "timeout": "3s",
                "trigger": {"event": "too.slow"}, "steps": [
                    {"id": "pause", "action": "core.wait", "input": {"seconds": 3600}},
                    {"id": "after", "action": "core.log", "needs": ["pause"], "input": {"message": "late"}}]})
    event_id = emit_started(live, "too.slow", {})
    [(execution_id, status, code)] = live.settled(event_id, timeout=90)  # the sweeper runs every 10 s
    assert (status, code) == ("FAILED", "execution.timeout")
    assert [(r["kind"], r["error_code"]) for r in letters_of(live, execution_id)] == [
        ("step", "execution.timeout")]
    # The wait's task comes back after the sweep: the execution is over, nothing runs.
    [task] = [m for m in tasks_on(live, "1h", lambda ms: any(m.key() == execution_id.encode() for m in ms))
              if m.key() == execution_id.encode()]
    produce(live, workflow_topic(live, "too-slow"), task.value(), key=task.key())
    live.assert_healthy()
    assert [s[:3] for s in steps_of(live, execution_id)] == [("pause", 1, "RETRYING")]
    assert live.executions(event_id)[0][1:] == ("FAILED", "execution.timeout")
