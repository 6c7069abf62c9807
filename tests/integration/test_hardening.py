"""Hostile and unlucky input to the runtime (issue 16): records the retry worker cannot trust, a server's
``Retry-After`` beyond the retry policy, waits of no length and outputs Postgres cannot store, delays
longer than their tier, executions past their deadline. Each case ends typed (a dead letter with its
code, a FAILED step and execution) and the worker goes on. (Faults not the records' own, and errors nothing
expected: tests/integration/test_runtime_faults.py.)"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from psycopg_pool import AsyncConnectionPool

from automate.config import Settings
from automate.dead_letters import DeadLetter
from automate.events import run_workflow
from automate.models import Automation, Execution
from automate.records import Records
from automate.runtime import Runtime
from automate.runtime.engine import Engine, Outcome
from automate.runtime.retry_worker import RetryWorker
from automate.runtime.sweeper import DeadlineSweeper
from automate.step_tasks import DUE_AT_HEADER, HOPS_HEADER, TARGET_HEADER, StepTask
from automate.topics import ensure_topics, tier_for, workflow_topic
from automate.transport import delete_topics
from tests.integration.peers import http_peer
from tests.integration.runtime_support import Workers, apply_workflow, running, status_of, step_runs
from tests.support import assert_eventually, consume, header

pytestmark = pytest.mark.integration


def retry_worker(settings: Settings) -> RetryWorker:
    """A retry worker of ``settings`` in a consumer group of its own."""
    return RetryWorker(settings, group=f"{settings.topic_prefix}-retry-{uuid.uuid4().hex[:6]}")


def _records_in(settings: Settings, topic: str) -> int:
    """How many records ``topic`` holds (0 if it does not exist)."""
    metadata = AdminClient({"bootstrap.servers": settings.bootstrap_servers}).list_topics(topic, timeout=10)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        return 0
    reader = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"count-{uuid.uuid4()}"})
    try:
        total = 0
        for partition in found.partitions:
            low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        return total
    finally:
        reader.close()


def test_retry_worker_dead_letters_what_it_cannot_trust_and_goes_on(db_settings: Settings) -> None:
    s = db_settings
    good_topic = s.topic("workflow.good")
    foreign_prefix = f"x{uuid.uuid4().hex[:10]}"
    foreign = f"{foreign_prefix}.workflow.good"  # a workflow topic of another deployment
    ensure_topics(s, [good_topic], partitions=1)
    ensure_topics(s, [foreign], partitions=1)
    soon = str(int(time.time() * 1000))
    hostile: dict[bytes, tuple[list[tuple[str, bytes]], str]] = {
        b"due-text": ([(DUE_AT_HEADER, b"soon"), (TARGET_HEADER, good_topic.encode())],
                      "retry.due_at_invalid"),
        b"due-nan": ([(DUE_AT_HEADER, b"nan"), (TARGET_HEADER, good_topic.encode())], "retry.due_at_invalid"),
        b"due-negative": ([(DUE_AT_HEADER, b"-5"), (TARGET_HEADER, good_topic.encode())],
                          "retry.due_at_invalid"),
        b"due-huge": ([(DUE_AT_HEADER, b"9" * 40), (TARGET_HEADER, good_topic.encode())],
                      "retry.due_at_invalid"),
        b"due-year-9999": ([(DUE_AT_HEADER, b"253402300799000"), (TARGET_HEADER, good_topic.encode())],
                           "retry.due_at_invalid"),  # would hold the 1s tier's partition for ever
        b"due-not-utf8": ([(DUE_AT_HEADER, b"\xff\xfe"), (TARGET_HEADER, good_topic.encode())],
                          "retry.headers_undecodable"),
        b"target-not-utf8": ([(DUE_AT_HEADER, soon.encode()), (TARGET_HEADER, b"\xc3\x28")],
                             "retry.headers_undecodable"),
        b"no-headers": ([], "retry.header_missing"),
        b"no-target": ([(DUE_AT_HEADER, soon.encode())], "retry.header_missing"),
        b"empty-due": ([(DUE_AT_HEADER, b""), (TARGET_HEADER, good_topic.encode())], "retry.header_missing"),
        b"other-prefix": ([(DUE_AT_HEADER, soon.encode()), (TARGET_HEADER, foreign.encode())],
                          "retry.target_forbidden"),
        b"offsets": ([(DUE_AT_HEADER, soon.encode()), (TARGET_HEADER, b"__consumer_offsets")],
                     "retry.target_forbidden"),
        b"events": ([(DUE_AT_HEADER, soon.encode()), (TARGET_HEADER, s.topic("events").encode())],
                    "retry.target_forbidden"),
        b"dlq": ([(DUE_AT_HEADER, soon.encode()), (TARGET_HEADER, s.topic("dlq").encode())],
                 "retry.target_forbidden"),
        b"not-a-slug": ([(DUE_AT_HEADER, soon.encode()),
                         (TARGET_HEADER, s.topic("workflow.A/../b").encode())], "retry.target_forbidden"),
    }
    tier = s.topic("retry.1s")
    producer = Producer({"bootstrap.servers": s.bootstrap_servers})
    for value, (headers, _code) in hostile.items():  # one partition: the good record comes after them all
        producer.produce(tier, value=value, key=b"\xff\x00 not utf-8", headers=headers, partition=0)
    due_ms = int(time.time() * 1000) + 1500
    producer.produce(tier, value=b"good", key=b"k", partition=0,
                     headers=[(DUE_AT_HEADER, str(due_ms).encode()), (TARGET_HEADER, good_topic.encode())])
    producer.flush(30)
    try:
        with running(retry_worker(s)) as worker:
            delivered = consume(s.bootstrap_servers, good_topic, lambda m: len(m) >= 1, timeout=60)
            assert_eventually(lambda: worker.dead_lettered == len(hostile), timeout=30)
            assert worker.forwarded == 1
        assert [m.value() for m in delivered] == [b"good"]
        assert delivered[0].timestamp()[1] >= due_ms  # never early
        assert header(delivered[0], DUE_AT_HEADER) == str(due_ms).encode()

        records = Records.load(s)
        letters = consume(s.bootstrap_servers, s.topic("dlq"), lambda m: len(m) >= len(hostile), timeout=30)
        found: dict[bytes, Any] = {}
        for msg in letters:
            _, letter = records.decode(msg.value())
            found[letter["original"]] = letter
        assert {original: letter["error_code"] for original, letter in found.items()} == {
            value: code for value, (_headers, code) in hostile.items()}
        assert all(letter["kind"] == "poison" and letter["source_topic"] == tier for letter in found.values())
        # Nothing went where the hostile records pointed.
        assert _records_in(s, foreign) == 0
        assert _records_in(s, s.topic("events")) == 0
        assert len(letters) == len(hostile)  # the dead-letter topic holds the letters only
    finally:
        delete_topics(s, foreign_prefix + ".")


# --- Retry-After beyond the policy ------------------------------------------------------------------


def test_retry_after_is_capped_by_the_policy_max(connector_settings: Settings) -> None:
    s = connector_settings
    with http_peer(lambda _r: (429, {"Retry-After": "31536000"}, b"slow down")) as peer:
        automation_id = apply_workflow(s, {"slug": "patient", "name": "p", "tenant": s.tenant, "steps": [
            {"id": "call", "action": "http.request", "input": {"url": f"{peer.url}/busy"},
             "retry": {"max_attempts": 3, "initial": "100ms", "max": "2s"}},
        ]})
        scheduled: list[StepTask] = []

        async def schedule(task: StepTask) -> None:
            scheduled.append(task)

        async def body() -> Outcome:
            async with AsyncConnectionPool(s.dsn, min_size=1, max_size=4, open=False) as pool:
                engine = Engine(s, pool, mode="deferred", scheduler=schedule)
                try:
                    return await engine.start(_request(s, automation_id, "patient", {}))
                finally:
                    await engine.writer.close()
                    await engine.reader.close()

        before = time.time()
        outcome = asyncio.run(body())
        after = time.time()
    assert outcome is Outcome.WAITING and len(peer.requests) == 1
    [task] = scheduled
    assert (task.step_id, task.attempt, task.reason) == ("call", 2, "retry")
    assert before <= task.due_at <= after + 2.0  # the policy's max, not the server's year
    assert tier_for(task.due_at - before).delay_s <= 10.0
    assert [(r[1], r[2], r[3]) for r in step_runs(s, task.execution_id)] == [(1, "RETRYING", "http.429")]


# --- waits of no length, values Postgres cannot store ------------------------------------------------


def _request(settings: Settings, automation_id: str, slug: str, context: dict[str, Any]) -> dict[str, Any]:
    return {"execution_id": str(uuid.uuid4()), "tenant": settings.tenant, "automation_id": automation_id,
            "workflow_slug": slug, "workflow_version": 1, "event_id": str(uuid.uuid4()),
            "event_type": "test.hostile", "context": json.dumps(context),
            "requested_at": int(time.time() * 1000)}


WAIT_FROM_CONTEXT = [{"id": "pause", "action": "core.wait", "input": {"seconds": "{{ execution.context.s }}"},
                      "retry": {"max_attempts": 3}},
                     {"id": "after", "action": "core.log", "needs": ["pause"], "input": {"message": "late"}}]


@pytest.mark.parametrize("seconds", ["nan", "NaN", "inf", "-inf", -1, "-0.5", "soon", "", [1], {"a": 1}, True,
                                     "1e400"])
def test_a_wait_of_no_length_fails_the_execution_typed(db_settings: Settings, seconds: object) -> None:
    s = db_settings
    apply_workflow(s, {"slug": "bad-wait", "name": "w", "steps": WAIT_FROM_CONTEXT})
    automation = Automation.objects.get(slug="bad-wait", settings=s)
    execution = Execution.objects.create(automation=automation, context={"s": seconds}, settings=s)
    Runtime(s).run_execution(execution.id)
    execution.refresh_from_db()
    assert execution.status == "FAILED"
    assert execution.error is not None and execution.error["code"] == "input.invalid"
    assert step_runs(s, execution.id) == [("pause", 1, "FAILED", "input.invalid")]  # permanent: no retry


def test_a_wait_template_error_fails_the_execution(db_settings: Settings) -> None:
    s = db_settings
    apply_workflow(s, {"slug": "broken-wait", "name": "w", "steps": [
        {"id": "pause", "action": "core.wait", "input": {"seconds": "{{ execution.context.x.y.z }}"}}]})
    automation = Automation.objects.get(slug="broken-wait", settings=s)
    execution = Execution.objects.create(automation=automation, context={}, settings=s)
    Runtime(s).run_execution(execution.id)
    execution.refresh_from_db()
    assert execution.status == "FAILED" and execution.error is not None
    assert execution.error["code"] == "template"


def test_a_nul_character_in_a_step_output_fails_the_execution_typed(connector_settings: Settings) -> None:
    s = connector_settings
    body = b'{"name": "x\\u0000y"}'
    with http_peer(lambda _r: (200, {"Content-Type": "application/json"}, body)) as peer:
        apply_workflow(s, {"slug": "nul-out", "name": "n", "tenant": s.tenant, "steps": [
            {"id": "call", "action": "http.request", "input": {"url": f"{peer.url}/x"}}]})
        automation = Automation.objects.get(slug="nul-out", settings=s)
        execution = Execution.objects.create(automation=automation, context={}, settings=s)
        Runtime(s).run_execution(execution.id)
    execution.refresh_from_db()
    assert execution.status == "FAILED"
    assert execution.error is not None and execution.error["code"] == "output.not_storable"
    assert step_runs(s, execution.id) == [("call", 1, "FAILED", "output.not_storable")]


def test_the_runtime_worker_fails_hostile_executions_typed_and_goes_on(connector_settings: Settings) -> None:
    s = connector_settings
    with http_peer(lambda _r: (200, {"Content-Type": "application/json"}, b'{"k\\u0000": 1}')) as peer:
        apply_workflow(s, {"slug": "bad-wait", "name": "w", "tenant": s.tenant, "steps": WAIT_FROM_CONTEXT})
        apply_workflow(s, {"slug": "nul-out", "name": "n", "tenant": s.tenant, "steps": [
            {"id": "call", "action": "http.request", "input": {"url": f"{peer.url}/x"}}]})
        apply_workflow(s, {"slug": "echo", "name": "e", "tenant": s.tenant, "steps": [
            {"id": "shape", "action": "core.transform", "input": {"v": "{{ execution.context.v }}"}},
            {"id": "log", "action": "core.log", "needs": ["shape"], "input": {"message": "ok"}}]})
        automation_id = Automation.objects.get(slug="echo", settings=s).id
        with Workers(s):
            bad_wait = _run(s, "bad-wait", {"s": "nan"})
            nul_out = _run(s, "nul-out", {})
            nul_context = _produce_request(s, str(automation_id), "echo", '{"v": "a\\u0000b"}')
            good = _run(s, "echo", {"v": 1})
            assert_eventually(lambda: status_of(s, good) == "SUCCESS", timeout=60, interval=0.2)
            assert_eventually(lambda: all(status_of(s, ident) == "FAILED"
                                          for ident in (bad_wait, nul_out, nul_context)), timeout=60)
        codes = {ident: Execution.objects.get(id=ident, settings=s).error["code"]  # type: ignore[index]
                 for ident in (bad_wait, nul_out, nul_context)}
    assert codes == {bad_wait: "input.invalid", nul_out: "output.not_storable",
                     nul_context: "execution.context_invalid"}
    records = Records.load(s)
    letters = consume(s.bootstrap_servers, s.topic("dlq"), lambda m: len(m) >= 3, timeout=30)
    found = {(r["execution_id"], r["error_code"]) for r in (records.decode(m.value())[1] for m in letters)}
    assert found == {(bad_wait, "input.invalid"), (nul_out, "output.not_storable"),
                     (nul_context, "execution.context_invalid")}


def _run(settings: Settings, slug: str, payload: dict[str, Any]) -> str:
    from automate_core.outbox.relay import Relay

    execution_id = run_workflow(slug, payload, settings=settings)
    with Relay(settings) as relay:
        relay.drain()
    return execution_id


def _produce_request(settings: Settings, automation_id: str, slug: str, context: str, **fields: Any) -> str:
    """An ExecutionRequest put straight on its workflow topic (another producer than run_workflow)."""
    request = {**_request(settings, automation_id, slug, {}), "context": context, **fields}
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(workflow_topic(settings, slug), value=Records.load(settings).encode("ExecutionRequest",
                     request), key=request["execution_id"].encode())
    producer.flush(30)
    return str(request["execution_id"])


def test_retry_worker_dead_letters_a_task_for_a_workflow_topic_that_does_not_exist(
        db_settings: Settings) -> None:
    s = db_settings
    good_topic = s.topic("workflow.good")
    ensure_topics(s, [good_topic], partitions=1)
    tier = s.topic("retry.1s")
    now = str(int(time.time() * 1000)).encode()
    producer = Producer({"bootstrap.servers": s.bootstrap_servers})
    producer.produce(tier, value=b"nowhere", partition=0,
                     headers=[(DUE_AT_HEADER, now), (TARGET_HEADER, s.topic("workflow.nowhere").encode())])
    producer.produce(tier, value=b"good", partition=0,
                     headers=[(DUE_AT_HEADER, now), (TARGET_HEADER, good_topic.encode())])
    producer.flush(30)
    with running(retry_worker(s)) as worker:
        delivered = consume(s.bootstrap_servers, good_topic, lambda m: len(m) >= 1, timeout=90)
        assert_eventually(lambda: worker.dead_lettered == 1, timeout=90)
    assert [m.value() for m in delivered] == [b"good"] and worker.forwarded == 1
    letters = consume(s.bootstrap_servers, s.topic("dlq"), lambda m: len(m) >= 1, timeout=30)
    _, letter = Records.load(s).decode(letters[0].value())
    assert (letter["error_code"], letter["original"]) == ("request.undeliverable", b"nowhere")


# --- delays longer than a tier: hops, never holds, never early -------------------------------------------


def _read_all(settings: Settings, topic: str, until: Any, timeout: float = 60) -> list[Any]:
    return consume(settings.bootstrap_servers, topic, until, timeout=timeout)


def test_a_record_due_later_than_its_tier_hops_instead_of_holding_its_partition(
        db_settings: Settings) -> None:
    s = db_settings
    good_topic = s.topic("workflow.good")
    ensure_topics(s, [good_topic], partitions=1)
    now_ms = int(time.time() * 1000)
    far_ms, near_ms = now_ms + 20_000, now_ms + 900  # the near one as the 1 s tier takes it
    producer = Producer({"bootstrap.servers": s.bootstrap_servers})
    for value, due_ms in ((b"far", far_ms), (b"near", near_ms)):  # one partition of the 1 s tier, far first
        producer.produce(s.topic("retry.1s"), value=value, key=b"k", partition=0,
                         headers=[(DUE_AT_HEADER, str(due_ms).encode()),
                                  (TARGET_HEADER, good_topic.encode())])
    producer.flush(30)
    with running(retry_worker(s)) as worker:
        delivered = _read_all(s, good_topic, lambda m: len(m) >= 2, timeout=90)
        assert worker.hopped == 1 and worker.forwarded == 2
    near, far = delivered
    assert (near.value(), far.value()) == (b"near", b"far")
    assert near_ms <= near.timestamp()[1] < far_ms - 5_000  # not held behind the far record
    assert far.timestamp()[1] >= far_ms  # never early, however it travelled
    # The far record hopped once, to the tier of what it still had to wait, with its headers.
    [hop] = _read_all(s, s.topic("retry.1m"), lambda m: len(m) >= 1)
    assert hop.value() == b"far" and hop.key() == b"k"
    assert header(hop, DUE_AT_HEADER) == str(far_ms).encode() and header(hop, HOPS_HEADER) == b"1"
    assert header(hop, TARGET_HEADER) == good_topic.encode()


def test_a_delay_beyond_the_longest_tier_hops_through_it_without_blocking_its_partition(
        db_settings: Settings) -> None:
    s = db_settings
    good_topic = s.topic("workflow.good")
    ensure_topics(s, [good_topic], partitions=1)
    now_ms = int(time.time() * 1000)
    two_hours_ms, soon_ms = now_ms + 7_200_000, now_ms + 1_000
    longest = s.topic("retry.1h")
    producer = Producer({"bootstrap.servers": s.bootstrap_servers})
    # A 2 h wait produced an hour ago (it has waited its tier's delay, e.g. across a restart of the worker),
    # then a record due in a second behind it on the same partition.
    producer.produce(longest, value=b"two-hours", key=b"k", partition=0, timestamp=now_ms - 3_601_000,
                     headers=[(DUE_AT_HEADER, str(two_hours_ms).encode()),
                              (TARGET_HEADER, good_topic.encode())])
    producer.produce(longest, value=b"soon", key=b"k", partition=0,
                     headers=[(DUE_AT_HEADER, str(soon_ms).encode()), (TARGET_HEADER, good_topic.encode())])
    # And a fresh 2 h wait on another partition: held (it may not leave before an hour), not hopped.
    producer.produce(longest, value=b"fresh", key=b"f", partition=1,
                     headers=[(DUE_AT_HEADER, str(two_hours_ms).encode()),
                              (TARGET_HEADER, good_topic.encode())])
    producer.flush(30)
    with running(retry_worker(s)) as worker:
        delivered = _read_all(s, good_topic, lambda m: len(m) >= 1, timeout=90)
        assert_eventually(lambda: worker.hopped == 1, timeout=30)
        hopped = _read_all(s, longest, lambda m: any(header(x, HOPS_HEADER) for x in m))
        time.sleep(2)  # nothing else leaves: the fresh wait and the hopped copy are held
        assert worker.forwarded == 1 and worker.hopped == 1
    assert [m.value() for m in delivered] == [b"soon"] and delivered[0].timestamp()[1] >= soon_ms
    [copy] = [m for m in hopped if header(m, HOPS_HEADER)]
    assert copy.value() == b"two-hours" and header(copy, DUE_AT_HEADER) == str(two_hours_ms).encode()
    assert copy.timestamp()[1] >= now_ms  # produced again now: it waits up to another hour, then hops on
    assert _records_in(s, good_topic) == 1  # the 2 h waits were not delivered early


# --- every runtime error ends FAILED, typed, with a dead letter; the deadline sweeper --------------------


def _letters(settings: Settings, count: int) -> list[dict[str, Any]]:
    """The first ``count`` dead letters (at least)."""
    records = Records.load(settings)
    found = consume(settings.bootstrap_servers, settings.topic("dlq"), lambda m: len(m) >= count, timeout=60)
    return [records.decode(m.value())[1] for m in found]


def test_the_sweeper_fails_executions_past_their_deadline_and_their_late_steps_do_not_run(
        db_settings: Settings) -> None:
    s = Settings(**{**db_settings.model_dump(), "sweep_interval_s": 0.5})
    apply_workflow(s, {"slug": "slow", "name": "s", "timeout": "2s", "steps": [
        {"id": "pause", "action": "core.wait", "input": {"seconds": 3600}},
        {"id": "after", "action": "core.log", "needs": ["pause"], "input": {"message": "too late"}}]})
    with Workers(s):
        slow = _run(s, "slow", {})
        assert_eventually(lambda: step_runs(s, slow) == [("pause", 1, "RETRYING", "wait")], timeout=60)
        assert_eventually(lambda: status_of(s, slow) == "FAILED", timeout=30, interval=0.2)
        # The wait's task comes back after the sweep (sent now): the execution is over, nothing runs.
        _produce_step_task_for(s, "slow", slow, "pause", 2, "wait")
        good = _run(s, "slow", {})  # the worker goes on (this one waits too, and is swept in turn)
        assert_eventually(lambda: status_of(s, good) == "FAILED", timeout=30, interval=0.2)
    error = Execution.objects.get(id=slow, settings=s).error
    assert error is not None and error["code"] == "execution.timeout"
    assert [r[:3] for r in step_runs(s, slow)] == [("pause", 1, "RETRYING")]  # no late step ran
    letters = _letters(s, 2)
    assert ("step", "execution.timeout") in {(r["kind"], r["error_code"]) for r in letters
                                            if r["execution_id"] == slow}


def _produce_step_task_for(settings: Settings, slug: str, execution_id: str, step_id: str, attempt: int,
                           reason: str) -> None:
    task = {"execution_id": execution_id, "tenant": settings.tenant, "workflow_slug": slug,
            "step_id": step_id, "attempt": attempt, "due_at": int(time.time() * 1000), "reason": reason}
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(workflow_topic(settings, slug), value=Records.load(settings).encode("StepTask", task),
                     key=execution_id.encode())
    producer.flush(30)


def test_sweepers_at_once_fail_each_execution_once(db_settings: Settings) -> None:
    s = db_settings
    apply_workflow(s, {"slug": "late", "name": "l", "steps": [{"id": "a", "action": "core.noop"}]})
    automation = Automation.objects.get(slug="late", settings=s)
    ids = [str(Execution.objects.create(automation=automation, context={}, settings=s).id)
           for _ in range(120)]
    with psycopg.connect(s.dsn) as conn:  # 100 running past their deadline, 20 still within it
        conn.execute("UPDATE execution SET status = 'RUNNING', deadline_at = now() - interval '1 second' "
                     "WHERE id = ANY(%s::uuid[])", (ids[:100],))
        conn.execute("UPDATE execution SET status = 'RUNNING', deadline_at = now() + interval '1 hour' "
                     "WHERE id = ANY(%s::uuid[])", (ids[100:],))
    letters: list[DeadLetter] = []

    async def sink(letter: DeadLetter) -> None:
        await asyncio.sleep(0.001)  # let the other sweepers in while this one holds its rows
        letters.append(letter)

    async def body() -> list[list[Any]]:
        async with AsyncConnectionPool(s.dsn, min_size=4, max_size=8, open=False) as pool:
            sweepers = [DeadlineSweeper(pool, sink, batch=7) for _ in range(4)]
            return await asyncio.gather(*(sweeper.sweep() for sweeper in sweepers))

    swept = asyncio.run(body())
    failed = [row.id for rows in swept for row in rows]
    assert sorted(failed) == sorted(ids[:100])  # each once, across the four
    assert sorted(letter.execution_id or "" for letter in letters) == sorted(ids[:100])
    assert {letter.error_code for letter in letters} == {"execution.timeout"}
    statuses = {i: status_of(s, i) for i in ids}
    assert [statuses[i] for i in ids[:100]] == ["FAILED"] * 100
    assert [statuses[i] for i in ids[100:]] == ["RUNNING"] * 20
