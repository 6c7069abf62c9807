"""Faults the runtime worker meets that are not the records' own: a database outage (retried, never
failed), an error of one statement (failed typed, never retried for ever), Kafka refusing a record for now
(retried in place, never a failed execution), an execution id in a form Postgres refuses (poison for
itself, never for the executions loaded beside it), a request naming another automation's execution
(refused), errors nothing expected (the last resort). Each ends typed and the worker goes on."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from psycopg_pool import AsyncConnectionPool

from automate.config import Settings
from automate.dead_letters import DeadLetter
from automate.events import run_workflow
from automate.models import Automation, Execution
from automate.records import Records
from automate.runtime.engine import Engine, Outcome
from automate.runtime.retry_worker import RetryWorker
from automate.runtime.state import database_away
from automate.runtime.worker import RuntimeWorker
from automate.topics import RETRY_TIERS, ensure_topics, retry_topic, workflow_topic
from automate.transport import delete_topics
from tests.integration.runtime_support import Workers, apply_workflow, running, status_of, step_runs
from tests.support import assert_eventually, consume

pytestmark = pytest.mark.integration


def _run(settings: Settings, slug: str, payload: dict[str, Any], count: int = 1) -> list[str]:
    """``count`` executions of ``slug`` requested through the outbox (relayed to Kafka)."""
    from automate_core.outbox.relay import Relay

    ids = [run_workflow(slug, payload, settings=settings) for _ in range(count)]
    with Relay(settings) as relay:
        relay.drain()
    return ids


def _request(settings: Settings, automation_id: str, slug: str, **fields: Any) -> dict[str, Any]:
    return {"execution_id": str(uuid.uuid4()), "tenant": settings.tenant, "automation_id": automation_id,
            "workflow_slug": slug, "workflow_version": 1, "event_id": str(uuid.uuid4()),
            "event_type": "test.faults", "context": "{}", "requested_at": int(time.time() * 1000), **fields}


def _produce(settings: Settings, slug: str, records: list[tuple[str, dict[str, Any]]]) -> None:
    """Records put straight on ``slug``'s workflow topic (another producer than the runtime's)."""
    encoder = Records.load(settings)
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    for name, record in records:
        producer.produce(workflow_topic(settings, slug), value=encoder.encode(name, record),
                         key=str(record["execution_id"]).encode())
    producer.flush(30)


def _task(settings: Settings, slug: str, execution_id: str, step_id: str, attempt: int,
          reason: str) -> tuple[str, dict[str, Any]]:
    return ("StepTask", {"execution_id": execution_id, "tenant": settings.tenant, "workflow_slug": slug,
                         "step_id": step_id, "attempt": attempt, "due_at": int(time.time() * 1000),
                         "reason": reason})


def _letters(settings: Settings, count: int) -> list[dict[str, Any]]:
    """The first ``count`` dead letters (at least)."""
    records = Records.load(settings)
    found = consume(settings.bootstrap_servers, settings.topic("dlq"), lambda m: len(m) >= count, timeout=60)
    return [records.decode(m.value())[1] for m in found]


def _exists(settings: Settings, execution_id: str) -> bool:
    with psycopg.connect(settings.dsn) as conn:
        return conn.execute("SELECT 1 FROM execution WHERE id = %s", (execution_id,)).fetchone() is not None


def _error_code(settings: Settings, execution_id: str) -> str | None:
    error = Execution.objects.get(id=execution_id, settings=settings).error
    return None if error is None else str(error["code"])


# --- an execution id in a form Python reads and Postgres refuses ---------------------------------------

PARKED = [{"id": "pause", "action": "core.wait", "input": {"seconds": 1}},
          {"id": "after", "action": "core.log", "needs": ["pause"], "input": {"message": "resumed"}}]


def test_an_id_postgres_refuses_fails_no_execution_loaded_beside_it(db_settings: Settings) -> None:
    """Step tasks naming ``urn:uuid:`` and ``{...}`` ids, among the wait tasks of 40 parked executions
    all taken at once (their loads read together): the parked executions all resume and succeed; the
    forged tasks, read by their canonical ids, name no execution (``execution.unknown``)."""
    s = db_settings
    apply_workflow(s, {"slug": "parked", "name": "p", "steps": PARKED})
    group = f"{s.topic_prefix}-runtime-faults"
    with running(RuntimeWorker(s, group=group)):  # no retry worker: the wait tasks stay on their tier
        ids = _run(s, "parked", {}, count=40)
        assert_eventually(lambda: all(step_runs(s, i) == [("pause", 1, "RETRYING", "wait")] for i in ids),
                          timeout=90, interval=0.5)
    time.sleep(1.5)  # every wait is due
    forged = [uuid.uuid4() for _ in range(4)]
    records = [_task(s, "parked", i, "pause", 2, "wait") for i in ids]
    for n, ident in enumerate(forged):  # spread among the genuine tasks
        text = f"urn:uuid:{ident}" if n % 2 == 0 else "{" + str(ident) + "}"
        records.insert(n * 10 + 5, _task(s, "parked", text, "pause", 2, "wait"))
    _produce(s, "parked", records)
    worker = RuntimeWorker(s, group=group)
    with running(worker):
        assert_eventually(lambda: all(status_of(s, i) == "SUCCESS" for i in ids), timeout=90, interval=0.5)
        assert_eventually(lambda: worker.stats["poison"] == len(forged), timeout=30)
    assert worker.stats["failed"] == 0
    letters = _letters(s, len(forged))
    assert {(r["execution_id"], r["error_code"]) for r in letters} == {
        (str(i), "execution.unknown") for i in forged}


# --- a request naming an execution that exists as another automation's or tenant's --------------------


@pytest.mark.parametrize("pure", [True, False], ids=["pure", "with-effects"])
@pytest.mark.parametrize("other", ["automation", "tenant"])
def test_a_request_for_another_automations_execution_is_refused(db_settings: Settings, other: str,
                                                                 pure: bool) -> None:
    s = db_settings
    owner = s if other == "automation" else Settings(**{**s.model_dump(), "tenant": "victim"})
    apply_workflow(owner, {"slug": "victim", "name": "v", "steps": [
        {"id": "effect", "action": "core.log", "input": {"message": "the victim's step"}}]})
    step = {"id": "s", "action": "core.transform" if pure else "core.log",
            "input": {"v": 1} if pure else {"message": "m"}}
    forger_id = apply_workflow(s, {"slug": "forger", "name": "f", "steps": [step]})
    victim = Execution.objects.create(automation=Automation.objects.get(slug="victim", settings=owner),
                                      context={}, settings=owner)  # PENDING: its request on its way
    letters: list[DeadLetter] = []

    async def sink(letter: DeadLetter) -> None:
        letters.append(letter)

    async def body() -> Outcome:
        async with AsyncConnectionPool(s.dsn, min_size=1, max_size=4, open=False) as pool:
            engine = Engine(s, pool, dead_letters=sink)
            try:
                return await engine.start(_request(s, forger_id, "forger", execution_id=str(victim.id)))
            finally:
                await engine.writer.close()
                await engine.reader.close()

    assert asyncio.run(body()) is Outcome.REFUSED
    assert status_of(s, str(victim.id)) == "PENDING"  # not run by the forged request
    assert step_runs(s, str(victim.id)) == []
    [letter] = letters
    assert (letter.error_code, letter.execution_id, letter.tenant) == ("tenant.mismatch", str(victim.id),
                                                                        s.tenant)


# --- Kafka refusing a record for now -------------------------------------------------------------------


def test_a_step_task_kafka_cannot_take_for_now_is_sent_again_not_failed(db_settings: Settings) -> None:
    """The retry tiers missing while a wait is scheduled (``kafka.delivery``, retryable): the worker sends
    the task again until the tier is back; the execution is never failed, and succeeds."""
    s = db_settings
    apply_workflow(s, {"slug": "parked", "name": "p", "steps": PARKED})
    tiers = [retry_topic(s, tier) for tier in RETRY_TIERS]
    delete_topics(s, s.topic("retry."))
    runtime = RuntimeWorker(s, group=f"{s.topic_prefix}-runtime-faults")
    with running(runtime):
        [ident] = _run(s, "parked", {})
        # librdkafka gives up on a topic it cannot find after 30 s: then the worker tries again.
        assert_eventually(lambda: runtime.stats.get("kafka_retries") or status_of(s, ident) == "FAILED",
                          timeout=120, interval=0.5)
        assert status_of(s, ident) == "RUNNING"  # not failed meanwhile
        assert step_runs(s, ident) == [("pause", 1, "RETRYING", "wait")]
        ensure_topics(s, tiers, partitions=3)
        with running(RetryWorker(s, group=f"{s.topic_prefix}-retry-faults")):
            assert_eventually(lambda: status_of(s, ident) == "SUCCESS", timeout=120, interval=0.5)
    assert runtime.stats["failed"] == 0
    assert [r[:3] for r in step_runs(s, ident)] == [("pause", 1, "RETRYING"), ("pause", 2, "SUCCESS"),
                                                    ("after", 1, "SUCCESS")]


# --- the database: an outage is retried, one statement's error is not -----------------------------------


def _raised(dsn: str, sql: str, *setup: str) -> psycopg.Error:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in setup:
            conn.execute(statement)
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(sql)
    return caught.value


def test_only_connection_errors_count_as_the_database_away(db_settings: Settings) -> None:
    dsn = db_settings.dsn
    canceled = _raised(dsn, "SELECT pg_sleep(5)", "SET statement_timeout = '50ms'")
    too_big = _raised(dsn, "SELECT array_fill(1, ARRAY[2000000000])")
    with psycopg.connect(dsn, autocommit=True) as holder:
        holder.execute("CREATE TABLE held (x int)")
        with holder.transaction():
            holder.execute("LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
            locked = _raised(dsn, "SELECT * FROM held", "SET lock_timeout = '50ms'")
    with psycopg.connect(dsn, autocommit=True) as victim, psycopg.connect(dsn, autocommit=True) as killer:
        pid = victim.info.backend_pid
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.Error) as caught:
            victim.execute("SELECT 1")
        terminated = caught.value
    with pytest.raises(psycopg.Error) as refused:
        psycopg.connect("postgresql://nobody@127.0.0.1:9/none", connect_timeout=2)
    closed = psycopg.connect(dsn)
    closed.close()
    with pytest.raises(psycopg.Error) as used_closed:
        closed.execute("SELECT 1")
    statements = {type(e).__name__: database_away(e) for e in (canceled, too_big, locked)}
    assert statements == {"QueryCanceled": False, "ProgramLimitExceeded": False, "LockNotAvailable": False}
    assert database_away(terminated) and database_away(refused.value) and database_away(used_closed.value)
    assert not database_away(ValueError("not the database"))


def test_a_statement_error_fails_its_execution_instead_of_blocking_for_ever(db_settings: Settings) -> None:
    """A write that waits for a lock past ``lock_timeout`` (LockNotAvailable, an OperationalError that is
    no outage) fails its execution typed, once; after the lock, the next execution succeeds."""
    s = db_settings
    apply_workflow(s, {"slug": "logs", "name": "l", "steps": [
        {"id": "a", "action": "core.log", "input": {"message": "a"}}]})
    with psycopg.connect(s.dsn, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {conn.info.dbname} SET lock_timeout = '300ms'")
    runtime = RuntimeWorker(s, group=f"{s.topic_prefix}-runtime-faults")
    with psycopg.connect(s.dsn, autocommit=True) as holder:
        with holder.transaction():  # step results cannot be written meanwhile; executions can
            holder.execute("LOCK TABLE step_run IN EXCLUSIVE MODE")
            with running(runtime):
                [blocked] = _run(s, "logs", {})
                assert_eventually(lambda: _exists(s, blocked) and status_of(s, blocked) == "FAILED",
                                  timeout=60, interval=0.2)
        with running(runtime_after := RuntimeWorker(s, group=f"{s.topic_prefix}-runtime-faults")):
            [good] = _run(s, "logs", {})
            assert_eventually(lambda: status_of(s, good) == "SUCCESS", timeout=60, interval=0.2)
    assert _error_code(s, blocked) == "execution.internal"
    assert runtime.stats["failed"] == 1 and runtime_after.stats["failed"] == 0
    assert step_runs(s, blocked) == []


def test_a_database_outage_is_retried_not_failed(db_settings: Settings) -> None:
    """The last resort is not for an outage: messages whose connections die (the runtime's sessions
    terminated over and over, as a Postgres restart does) are retried and their executions succeed."""
    s = db_settings
    apply_workflow(s, {"slug": "steady", "name": "s", "steps": [
        {"id": "a", "action": "core.log", "input": {"message": "a"}},
        {"id": "b", "action": "core.sleep", "needs": ["a"], "input": {"seconds": 0.3}},
        {"id": "c", "action": "core.log", "needs": ["b"], "input": {"message": "c"}}]})
    stop = threading.Event()
    killed: list[int] = []

    def kill_sessions() -> None:
        with psycopg.connect(s.dsn, autocommit=True) as conn:
            while not stop.wait(0.05):
                killed.extend(r[0] for r in conn.execute(
                    "SELECT pg_terminate_backend(pid)::int FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = 'automate-runtime'"))

    killer = threading.Thread(target=kill_sessions, daemon=True)
    with Workers(s) as workers:
        killer.start()
        try:
            ids = [_run(s, "steady", {})[0] for _ in range(5)]
            time.sleep(4)  # the outage lasts while the executions run
        finally:
            stop.set()
            killer.join(30)
        assert_eventually(lambda: all(status_of(s, i) == "SUCCESS" for i in ids), timeout=120, interval=0.5)
        assert workers.runtime.stats["failed"] == 0
    assert sum(killed) > 0  # sessions were terminated while they worked


# --- errors nothing expected: the last resort -------------------------------------------------------------


def test_errors_the_engine_did_not_expect_fail_the_execution_typed(db_settings: Settings) -> None:
    s = db_settings
    apply_workflow(s, {"slug": "throws", "name": "t", "steps": [
        {"id": "guarded", "action": "core.noop", "when": {"throw": "no such thing"}},
        {"id": "after", "action": "core.log", "needs": ["guarded"], "input": {"message": "never"}}]})
    apply_workflow(s, {"slug": "echo", "name": "e", "steps": [
        {"id": "shape", "action": "core.transform", "input": {"v": "{{ execution.context.v }}"}}]})
    echo_id = str(Automation.objects.get(slug="echo", settings=s).id)
    unreadable = _request(s, echo_id, "echo", context='{"v": ')  # context that is not JSON
    huge = _request(s, echo_id, "echo", context='{"v": ' + "9" * 5000 + "}")  # beyond Python's limit
    bad_event = _request(s, echo_id, "echo", event_id="not-a-uuid")  # Postgres refuses it
    not_an_id = "not-a-uuid"
    with Workers(s):
        [thrown] = _run(s, "throws", {})
        _produce(s, "echo", [("ExecutionRequest", r) for r in (unreadable, huge, bad_event)])
        _produce(s, "echo", [_task(s, "echo", not_an_id, "x", 2, "retry")])
        [good] = _run(s, "echo", {"v": 1})
        failing = [thrown, *(str(r["execution_id"]) for r in (unreadable, huge, bad_event))]
        assert_eventually(lambda: status_of(s, good) == "SUCCESS", timeout=60, interval=0.2)
        assert_eventually(lambda: all(_exists(s, i) and status_of(s, i) == "FAILED" for i in failing),
                          timeout=60)
    codes = {i: _error_code(s, i) for i in failing}
    assert codes[thrown] == "rules.thrown" and codes[str(bad_event["execution_id"])] == "execution.internal"
    # A context that cannot be read: refused typed by the engine's own check, else by the last resort.
    assert {codes[str(unreadable["execution_id"])], codes[str(huge["execution_id"])]} <= {
        "execution.context_invalid", "execution.internal"}
    assert step_runs(s, thrown) == [("guarded", 1, "FAILED", "rules.thrown")]  # the next step never ran
    letters = _letters(s, 5)
    assert {r["execution_id"]: r["error_code"] for r in letters if r["kind"] == "step"} == codes
    [poison] = [r for r in letters if r["kind"] == "poison"]
    assert poison["error_code"] == "record.unreadable"
    assert Records.load(s).decode(poison["original"])[1]["execution_id"] == not_an_id
