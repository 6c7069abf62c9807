"""The step engine on the real stack: in process (Runtime.run_execution) and through Kafka with the
retry tiers, the dead-letter topic and replay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from automate.config import Settings
from automate.events import run_workflow
from automate.models import Automation, Execution
from automate.runtime import Runtime
from automate.topics import core_topics, ensure_topics
from tests.integration.runtime_support import Workers, apply_workflow, status_of, step_runs
from tests.support import assert_eventually, consume, partitions_held

pytestmark = pytest.mark.integration

FAST_RETRY = {"max_attempts": 3, "backoff": "exponential", "initial": "50ms", "max": "1s"}


def test_seed_runtime_example_runs_verbatim(db_settings: Settings) -> None:
    apply_workflow(db_settings, {"slug": "order-flow", "name": "Order flow", "steps": [
        {"id": "shape", "action": "core.transform", "input": {"order": "{{ execution.context.order_id }}"}},
        {"id": "log", "action": "core.log", "needs": ["shape"],
         "input": {"message": "order {{ steps.shape.output.order }}"}},
    ]})
    script = textwrap.dedent('''
        from automate.models import Automation
        automation = Automation.objects.get(slug="order-flow")

        from automate.runtime import Runtime
        from automate.models import Execution

        # Create an execution
        execution = Execution.objects.create(
            automation=automation,
            context={"order_id": "ORD-123"}
        )

        # Run it
        runtime = Runtime()
        runtime.run_execution(execution.id)

        # Check result
        execution.refresh_from_db()
        print(f"Status: {execution.status}")  # SUCCESS or FAILED
    ''')
    env = {**os.environ, "AUTOMATE_DATABASE_URL": db_settings.dsn}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Status: SUCCESS"


def _inline(settings: Settings, definition: dict[str, object], context: dict[str, object]) -> Execution:
    apply_workflow(settings, definition)
    automation = Automation.objects.get(slug=str(definition["slug"]), settings=settings)
    execution = Execution.objects.create(automation=automation, context=context, settings=settings)
    Runtime(settings).run_execution(execution.id)
    execution.refresh_from_db()
    return execution


def test_fan_out_and_fan_in(db_settings: Settings) -> None:
    execution = _inline(db_settings, {"slug": "diamond", "name": "d", "steps": [
        {"id": "a", "action": "core.transform", "input": {"n": "{{ execution.context.n }}"}},
        {"id": "b", "action": "core.sleep", "needs": ["a"], "input": {"seconds": 0.3}},
        {"id": "c", "action": "core.sleep", "needs": ["a"], "input": {"seconds": 0.3}},
        {"id": "d", "action": "core.transform", "needs": ["b", "c"],
         "input": {"total": "{{ steps.a.output.n * 2 }}"}},
    ]}, {"n": 21})
    assert execution.status == "SUCCESS"
    runs = {r[0]: r for r in step_runs(db_settings, execution.id)}
    assert set(runs) == {"a", "b", "c", "d"}
    with __import__("psycopg").connect(db_settings.dsn) as conn:
        b_c = conn.execute("SELECT started_at, finished_at FROM step_run WHERE execution_id = %s "
                           "AND step_id IN ('b', 'c') ORDER BY step_id", (execution.id,)).fetchall()
        out = conn.execute("SELECT output FROM step_run WHERE execution_id = %s AND step_id = 'd'",
                           (execution.id,)).fetchone()
    (b_start, b_end), (c_start, c_end) = b_c
    assert c_start < b_end and b_start < c_end  # b and c ran in parallel
    assert out == ({"total": 42},)


def test_when_branch_skips_a_step(db_settings: Settings) -> None:
    execution = _inline(db_settings, {"slug": "branch", "name": "b", "steps": [
        {"id": "shape", "action": "core.transform", "input": {"order": "{{ execution.context.order_id }}"}},
        {"id": "big", "action": "core.log", "needs": ["shape"], "input": {"message": "big"},
         "when": {"==": [{"var": "steps.shape.output.order"}, "ORD-BIG"]}},
        {"id": "small", "action": "core.log", "needs": ["shape"], "input": {"message": "small"},
         "when": {"!=": [{"var": "steps.shape.output.order"}, "ORD-BIG"]}},
    ]}, {"order_id": "ORD-1"})
    assert execution.status == "SUCCESS"
    statuses = {r[0]: r[2] for r in step_runs(db_settings, execution.id)}
    assert statuses == {"shape": "SUCCESS", "big": "SKIPPED", "small": "SUCCESS"}


def test_transient_failure_is_retried_in_process(db_settings: Settings) -> None:
    execution = _inline(db_settings, {"slug": "flaky", "name": "f", "steps": [
        {"id": "call", "action": "core.fail", "input": {"code": "http.503", "times": 2}, "retry": FAST_RETRY},
    ]}, {})
    assert execution.status == "SUCCESS"
    assert [(r[1], r[2]) for r in step_runs(db_settings, execution.id)] == [
        (1, "RETRYING"), (2, "RETRYING"), (3, "SUCCESS")]


def test_permanent_failure_and_exhaustion_fail_the_execution(db_settings: Settings) -> None:
    execution = _inline(db_settings, {"slug": "doomed", "name": "d", "steps": [
        {"id": "call", "action": "core.fail", "input": {"code": "http.404", "retryable": False},
         "retry": FAST_RETRY},
        {"id": "after", "action": "core.log", "needs": ["call"], "input": {"message": "never"}},
    ]}, {})
    assert execution.status == "FAILED"
    assert execution.error is not None and execution.error["code"] == "http.404"
    assert [r[0] for r in step_runs(db_settings, execution.id)] == ["call"]  # one attempt, no retry

    exhausted = _inline(db_settings, {"slug": "exhausted", "name": "e", "steps": [
        {"id": "call", "action": "core.fail", "input": {"code": "http.503"}, "retry": FAST_RETRY},
    ]}, {})
    assert exhausted.status == "FAILED"
    assert [r[2] for r in step_runs(db_settings, exhausted.id)] == ["RETRYING", "RETRYING", "FAILED"]


def test_step_timeout_and_template_error_are_recorded(db_settings: Settings) -> None:
    slow = _inline(db_settings, {"slug": "slow", "name": "s", "steps": [
        {"id": "nap", "action": "core.sleep", "input": {"seconds": 5}, "timeout": "200ms",
         "retry": {"max_attempts": 1}},
    ]}, {})
    assert slow.status == "FAILED" and slow.error is not None and slow.error["code"] == "timeout"
    broken = _inline(db_settings, {"slug": "broken", "name": "b", "steps": [
        {"id": "t", "action": "core.transform", "input": {"x": "{{ execution.context.missing.deeper }}"}},
    ]}, {})
    assert broken.status == "FAILED"
    assert step_runs(db_settings, broken.id)[0][2] == "FAILED"


def test_unknown_execution_raises_does_not_exist(db_settings: Settings) -> None:
    with pytest.raises(Execution.DoesNotExist):
        Runtime(db_settings).run_execution("00000000-0000-0000-0000-000000000000")


@pytest.fixture
def kafka_settings(db_settings: Settings) -> Settings:
    ensure_topics(db_settings, core_topics(db_settings), partitions=3)
    return db_settings


def _start(settings: Settings, definition: dict[str, object], payload: dict[str, object]) -> str:
    apply_workflow(settings, definition)
    from automate_core.outbox.relay import Relay

    execution_id = run_workflow(str(definition["slug"]), payload, settings=settings)
    with Relay(settings) as relay:
        relay.drain()
    return execution_id


def test_kafka_retry_through_two_tiers_then_success(kafka_settings: Settings) -> None:
    s = kafka_settings
    with Workers(s):
        execution_id = _start(s, {"slug": "two-tiers", "name": "t", "steps": [
            {"id": "call", "action": "core.fail", "input": {"code": "http.503", "times": 2},
             "retry": {"max_attempts": 3, "backoff": "exponential", "initial": "1s", "max": "5s",
                       "jitter": 0}},
        ]}, {})
        assert_eventually(lambda: status_of(s, execution_id) == "SUCCESS", timeout=60, interval=0.2)
    runs = step_runs(s, execution_id)
    assert [(r[1], r[2]) for r in runs] == [(1, "RETRYING"), (2, "RETRYING"), (3, "SUCCESS")]
    # 1 s backoff went to the 1s tier, 2 s to the 10s tier (the smallest at least the backoff).
    for tier in ("1s", "10s"):
        consume(s.bootstrap_servers, s.topic(f"retry.{tier}"), lambda m: len(m) >= 1, timeout=30)


def test_kafka_exhaustion_goes_to_the_dlq_and_replay_resumes(kafka_settings: Settings) -> None:
    s = kafka_settings
    with Workers(s):
        execution_id = _start(s, {"slug": "dead", "name": "d", "steps": [
            {"id": "first", "action": "core.log", "input": {"message": "runs once"}},
            {"id": "call", "action": "core.fail", "needs": ["first"],
             "input": {"code": "http.503", "times": 1},
             "retry": {"max_attempts": 1}},
        ]}, {})
        assert_eventually(lambda: status_of(s, execution_id) == "FAILED", timeout=60, interval=0.2)
        from automate.records import Records

        records = Records.load(s)
        letters = consume(s.bootstrap_servers, s.topic("dlq"), lambda m: len(m) >= 1, timeout=30)
        _, letter = records.decode(letters[0].value())
        assert letter["execution_id"] == execution_id and letter["step_id"] == "call"
        assert letter["error_code"] == "http.503"
        env = {**os.environ, "AUTOMATE_DATABASE_URL": s.dsn, "AUTOMATE_TOPIC_PREFIX": s.topic_prefix}

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "automate.cli", *args], capture_output=True,
                                  text=True, env={**env, "COLUMNS": "200"}, timeout=60)

        shown = cli("dlq", "show", execution_id)
        assert shown.returncode == 0, shown.stderr
        assert __import__("json").loads(shown.stdout.splitlines()[0])["step_id"] == "call"
        listed = cli("dlq", "list")
        assert listed.returncode == 0 and execution_id in listed.stdout
        detail = __import__("json").loads(cli("executions", "show", execution_id, "--json").stdout)
        assert detail["status"] == "FAILED" and [s["step"] for s in detail["steps"]] == ["first", "call"]
        assert execution_id in cli("executions", "list", "--status", "FAILED").stdout
        replay = subprocess.run([sys.executable, "-m", "automate.cli", "dlq", "replay", execution_id],
                                capture_output=True, text=True, env=env, timeout=60)
        assert replay.returncode == 0, replay.stderr
        assert_eventually(lambda: status_of(s, execution_id) == "SUCCESS", timeout=60, interval=0.2)
    runs = step_runs(s, execution_id)
    assert [r for r in runs if r[0] == "first"] == [("first", 1, "SUCCESS", None)]  # not run again
    assert [(r[1], r[2]) for r in runs if r[0] == "call"] == [(1, "FAILED"), (2, "SUCCESS")]


def test_a_replay_whose_step_task_is_not_sent_leaves_the_execution_failed(kafka_settings: Settings) -> None:
    """`dlq replay` commits RUNNING, then sends; when the send fails, the execution is FAILED again (not
    RUNNING for ever), and a later replay still works."""
    import asyncio

    from automate.dead_letters import replay
    from automate.errors import TransportError
    from automate.transport import delete_topics

    s = kafka_settings
    with Workers(s):
        execution_id = _start(s, {"slug": "replay-unsent", "name": "r", "steps": [
            {"id": "call", "action": "core.fail", "input": {"code": "http.503", "times": 1},
             "retry": {"max_attempts": 1}}]}, {})
        assert_eventually(lambda: status_of(s, execution_id) == "FAILED", timeout=60, interval=0.2)
    before = Execution.objects.get(id=execution_id, settings=s).error
    delete_topics(s, s.topic("retry."))  # where the replay's step task would go
    with pytest.raises(TransportError):
        asyncio.run(replay(s, execution_id, timeout_s=3))
    after = Execution.objects.get(id=execution_id, settings=s)
    assert (after.status, after.error) == ("FAILED", before)
    ensure_topics(s, core_topics(s), partitions=3)
    with Workers(s):
        assert asyncio.run(replay(s, execution_id)) == "call"
        assert_eventually(lambda: status_of(s, execution_id) == "SUCCESS", timeout=60, interval=0.2)
    assert [(r[1], r[2]) for r in step_runs(s, execution_id)] == [(1, "FAILED"), (2, "SUCCESS")]


def test_cancel_stops_before_the_next_step(kafka_settings: Settings) -> None:
    s = kafka_settings
    with Workers(s):
        execution_id = _start(s, {"slug": "cancel-me", "name": "c", "steps": [
            {"id": "pause", "action": "core.wait", "input": {"seconds": 3}},
            {"id": "after", "action": "core.log", "needs": ["pause"], "input": {"message": "too late"}},
        ]}, {})
        assert_eventually(lambda: any(r[0] == "pause" for r in step_runs(s, execution_id)), timeout=30)
        env = {**os.environ, "AUTOMATE_DATABASE_URL": s.dsn}
        cancel = subprocess.run([sys.executable, "-m", "automate.cli", "executions", "cancel", execution_id],
                                capture_output=True, text=True, env=env, timeout=60)
        assert cancel.returncode == 0, cancel.stderr
        time.sleep(5)  # the wait comes back through the retry tier in ~3 s; nothing may run after it
    assert status_of(s, execution_id) == "CANCELED"
    assert [r[0] for r in step_runs(s, execution_id)] == ["pause"]


def test_worker_killed_mid_step_reruns_it_and_completes(kafka_settings: Settings) -> None:
    s = kafka_settings
    env = {**os.environ, "AUTOMATE_DATABASE_URL": s.dsn, "AUTOMATE_TOPIC_PREFIX": s.topic_prefix}
    execution_id = _start(s, {"slug": "crashy", "name": "c", "steps": [
        {"id": "before", "action": "core.log", "input": {"message": "once"}},
        {"id": "slow", "action": "core.sleep", "needs": ["before"], "input": {"seconds": 4}},
    ]}, {})
    victim = subprocess.Popen([sys.executable, "-m", "automate.cli", "runtime"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert_eventually(lambda: [r[0] for r in step_runs(s, execution_id)] == ["before"], timeout=60)
        time.sleep(1)  # now inside the 4 s step
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert status_of(s, execution_id) == "RUNNING"
    finally:
        if victim.poll() is None:
            victim.kill()
    with Workers(s):
        assert_eventually(lambda: status_of(s, execution_id) == "SUCCESS", timeout=90, interval=0.2)
    runs = step_runs(s, execution_id)
    assert [(r[0], r[2]) for r in runs] == [("before", "SUCCESS"), ("slow", "SUCCESS")]


def test_two_workers_in_one_group_share_the_work(kafka_settings: Settings) -> None:
    s = kafka_settings
    apply_workflow(s, {"slug": "shared", "name": "s", "steps": [
        {"id": "a", "action": "core.sleep", "input": {"seconds": 0.05}},
    ]})
    env = {**os.environ, "AUTOMATE_DATABASE_URL": s.dsn, "AUTOMATE_TOPIC_PREFIX": s.topic_prefix}
    workers = [subprocess.Popen([sys.executable, "-m", "automate.cli", "runtime"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": s.bootstrap_servers})
    group_id = f"{s.topic_prefix}-runtime"

    def both_hold_partitions() -> bool:
        held = partitions_held(admin, group_id)
        return len(held) == 2 and all(held) and sum(held) == 6

    try:
        # The group rebalances to share the six partitions of the workflow topic...
        assert_eventually(both_hold_partitions, timeout=90, interval=1)
        ids = [run_workflow("shared", {"i": i}, settings=s) for i in range(60)]
        from automate_core.outbox.relay import Relay

        with Relay(s) as relay:
            relay.drain()

        def all_done() -> bool:
            return all(status_of(s, i) == "SUCCESS" for i in ids)

        # ...and the executions, spread over all partitions by key, all complete, each step once.
        assert_eventually(all_done, timeout=120, interval=0.5)
        with __import__("psycopg").connect(s.dsn) as conn:
            apps = conn.execute("SELECT count(*) FROM step_run WHERE status = 'SUCCESS'").fetchone()
        assert apps == (60,)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        errors = [w.communicate(timeout=30)[1] for w in workers]
    assert all(w.returncode == 0 for w in workers), errors  # both stopped cleanly on SIGTERM


def test_output_too_large_and_execution_timeout_fail_with_their_codes(db_settings: Settings) -> None:
    small = Settings(**{**db_settings.model_dump(), "max_step_output_bytes": 1000})
    big = _inline(small, {"slug": "big-output", "name": "b", "steps": [
        {"id": "t", "action": "core.transform", "input": {"blob": "{{ execution.context.blob }}"}},
    ]}, {"blob": "x" * 5000})
    assert big.status == "FAILED" and big.error is not None and big.error["code"] == "output.too_large"
    late = _inline(db_settings, {"slug": "too-slow", "name": "t", "timeout": "300ms", "steps": [
        {"id": "a", "action": "core.sleep", "input": {"seconds": 0.5}},
        {"id": "b", "action": "core.log", "needs": ["a"], "input": {"message": "never"}},
    ]}, {})
    assert late.status == "FAILED" and late.error is not None and late.error["code"] == "execution.timeout"
    assert [r[0] for r in step_runs(db_settings, late.id)] == ["a"]


def test_unreadable_and_unknown_messages_go_to_the_dlq(kafka_settings: Settings) -> None:
    import uuid

    from automate.records import Records
    from automate_core.outbox.relay import Relay

    s = kafka_settings
    apply_workflow(s, {"slug": "survivor", "name": "s", "steps": [
        {"id": "a", "action": "core.noop"},
    ]})
    records = Records.load(s)
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": s.bootstrap_servers})
    producer.produce(s.topic("workflow.survivor"), key=b"x", value=b"not avro at all")
    ghost = str(uuid.uuid4())
    producer.produce(s.topic("workflow.survivor"), key=ghost.encode(), value=records.encode("StepTask", {
        "execution_id": ghost, "tenant": s.tenant, "workflow_slug": "survivor", "step_id": "a",
        "attempt": 2, "due_at": 0, "reason": "retry"}))
    assert producer.flush(30) == 0
    with Workers(s):
        execution_id = run_workflow("survivor", {}, settings=s)
        with Relay(s) as relay:
            relay.drain()
        assert_eventually(lambda: status_of(s, execution_id) == "SUCCESS", timeout=60, interval=0.2)
        letters = consume(s.bootstrap_servers, s.topic("dlq"), lambda m: len(m) >= 2, timeout=30)
    decoded = [records.decode(m.value())[1] for m in letters]
    assert {d["error_code"] for d in decoded} == {"record.unreadable", "execution.unknown"}
    poison = next(d for d in decoded if d["error_code"] == "record.unreadable")
    assert poison["original"] == b"not avro at all"
