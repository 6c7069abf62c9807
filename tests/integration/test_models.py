"""automate.models on the real Postgres: the seed's Django-like API, pinned workflow versions, JSON round
trips, typed lookup errors, and calls that join the caller's transaction."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from automate.config import Settings
from automate.db.context import close_pools, current_connection, use_connection
from automate.errors import AutomateError, NoLiveVersion
from automate.models import (
    Automation,
    DoesNotExist,
    Execution,
    MultipleObjectsReturned,
    StepRun,
    Workflow,
)

pytestmark = pytest.mark.integration

DEFINITION = {"steps": [{"id": "log", "action": "core.log", "input": {"message": "hi {{ event.id }}"}}]}


@pytest.fixture
def s(db_settings: Settings) -> Iterator[Settings]:
    """The test's database; its pool is closed before the database is dropped."""
    try:
        yield db_settings
    finally:
        close_pools(db_settings)


def publish(settings: Settings, automation: Automation, version: int,
            definition: dict[str, Any] | None = None) -> Workflow:
    """A workflow version of ``automation``, made live with plain SQL."""
    definition = definition or DEFINITION
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()
    workflow = Workflow.objects.create(automation=automation, version=version, definition=definition,
                                       digest=digest, settings=settings)
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("UPDATE automation SET live_version = %s WHERE id = %s", (version, automation.id))
    return workflow


@pytest.fixture
def automation(s: Settings) -> Automation:
    found = Automation.objects.create(slug="order-flow", name="Order flow", settings=s)
    publish(s, found, 1)
    found.refresh_from_db()
    return found


def test_seed_example_creates_a_pending_execution_that_refresh_updates_in_place(
    s: Settings, automation: Automation
) -> None:
    execution = Execution.objects.create(automation=automation, context={"order_id": "ORD-123"}, settings=s)

    assert uuid.UUID(execution.id).version == 4
    assert (execution.status, execution.tenant, execution.attempt) == ("PENDING", s.tenant, 0)
    assert execution.automation_id == automation.id and execution.context == {"order_id": "ORD-123"}
    assert execution.created_at.tzinfo is not None and execution.started_at is None

    finished = datetime.now(UTC)
    with psycopg.connect(s.dsn) as other:  # the runtime's connection, say
        other.execute("UPDATE execution SET status = 'SUCCESS', finished_at = %s WHERE id = %s",
                      (finished, execution.id))
    same = execution
    execution.refresh_from_db()

    assert execution is same and execution.status == "SUCCESS"
    assert execution.finished_at == finished


def test_automation_defaults_come_from_the_settings_and_the_database(s: Settings) -> None:
    created = Automation.objects.create(slug="billing", name="Billing", settings=s)
    other = Automation.objects.create(slug="billing", name="Billing", tenant="acme", settings=s)

    assert created.tenant == s.tenant and other.tenant == "acme"
    assert created.enabled is True and created.live_version is None
    assert created.updated_at == created.created_at
    assert Automation.objects.get(slug="billing", tenant="acme", settings=s) == other


def test_get_filter_and_count(s: Settings, automation: Automation) -> None:
    second = Automation.objects.create(slug="second", name="Second", settings=s)
    publish(s, second, 1)
    made = [Execution.objects.create(automation=automation, context={"n": n}, settings=s) for n in range(3)]
    elsewhere = Execution.objects.create(automation=second.id, context={}, settings=s)
    with psycopg.connect(s.dsn) as conn:
        conn.execute("UPDATE execution SET status = 'RUNNING' WHERE id = %s", (made[1].id,))
        conn.execute("UPDATE execution SET status = 'FAILED' WHERE id = %s", (made[2].id,))

    assert Execution.objects.get(id=made[0].id, settings=s) == made[0]
    assert Execution.objects.get(id=uuid.UUID(elsewhere.id), settings=s).automation_id == second.id
    assert Execution.objects.count(settings=s) == 4
    assert Execution.objects.count(automation=automation, settings=s) == 3
    assert Execution.objects.count(automation_id=second.id, settings=s) == 1
    active = Execution.objects.filter(automation=automation, status__in=["PENDING", "RUNNING"], settings=s)
    assert sorted(e.id for e in active) == sorted([made[0].id, made[1].id])
    assert Execution.objects.filter(status__in=[], settings=s) == []
    assert Execution.objects.filter(id__in=[made[2].id, "not-a-uuid"], settings=s)[0].status == "FAILED"
    assert Execution.objects.filter(workflow_id=None, settings=s) == []

    newest = Execution.objects.filter(automation=automation, order_by="-created_at", limit=2, settings=s)
    assert len(newest) == 2
    assert newest[0].created_at >= newest[1].created_at
    ordered = Execution.objects.filter(order_by=["automation_id", "-created_at"], settings=s)
    assert [e.automation_id for e in ordered] == sorted(e.automation_id for e in ordered)
    assert [e.id for e in Execution.objects.filter(context={"n": 2}, settings=s)] == [made[2].id]


def test_does_not_exist_is_per_model_and_under_the_shared_roots(s: Settings, automation: Automation) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(Execution.DoesNotExist) as raised:
        Execution.objects.get(id=missing, settings=s)
    assert missing in str(raised.value)
    assert isinstance(raised.value, DoesNotExist) and isinstance(raised.value, AutomateError)
    assert raised.value.code == "model.does_not_exist"
    assert not issubclass(Execution.DoesNotExist, Automation.DoesNotExist)
    assert not issubclass(Automation.DoesNotExist, Execution.DoesNotExist)

    caught = None
    try:
        Execution.objects.get(id="not-a-uuid", settings=s)  # no database error: just no such row
    except Execution.DoesNotExist as exc:
        caught = exc
    assert caught is not None

    with pytest.raises(Automation.DoesNotExist):
        Execution.objects.create(automation=missing, settings=s)
    Execution.objects.create(automation=automation, settings=s)
    Execution.objects.create(automation=automation, settings=s)
    with pytest.raises(Execution.MultipleObjectsReturned) as multiple:
        Execution.objects.get(automation=automation, settings=s)
    assert isinstance(multiple.value, MultipleObjectsReturned)


def test_an_execution_keeps_the_version_it_was_created_with(s: Settings, automation: Automation) -> None:
    v1 = Workflow.objects.get(automation=automation, version=1, settings=s)
    first = Execution.objects.create(automation=automation, settings=s)
    v2 = publish(s, automation, 2, {"steps": [{"id": "other", "action": "core.log", "input": {}}]})
    second = Execution.objects.create(automation=automation, settings=s)
    first.refresh_from_db()

    assert first.workflow_id == v1.id and second.workflow_id == v2.id
    assert first.workflow == v1 and second.workflow is not None and second.workflow.version == 2
    assert first.automation == Automation.objects.get(id=automation.id, settings=s)
    assert first.automation.live_version == 2
    assert v2.automation.id == automation.id


def test_no_live_version_is_a_clear_error_and_writes_nothing(s: Settings) -> None:
    draft = Automation.objects.create(slug="draft", name="Draft", settings=s)
    with pytest.raises(NoLiveVersion, match=r"'draft'.*has no live version") as raised:
        Execution.objects.create(automation=draft, context={"a": 1}, settings=s)
    assert isinstance(raised.value, AutomateError) and raised.value.code == "model.no_live_version"
    assert Execution.objects.count(settings=s) == 0

    with psycopg.connect(s.dsn) as conn:
        conn.execute("UPDATE automation SET live_version = 7 WHERE id = %s", (draft.id,))
    with pytest.raises(NoLiveVersion, match="live version 7 but no such workflow version"):
        Execution.objects.create(automation=draft, settings=s)


def test_json_columns_round_trip(s: Settings, automation: Automation) -> None:
    context = {"order": {"id": "ORD-123", "amount": 99.99, "items": [1, "two", None, True]},
               "note": "café ✓", "empty": {}}
    execution = Execution.objects.create(automation=automation, context=context,
                                         deadline_at=datetime.now(UTC) + timedelta(minutes=5), settings=s)
    run = StepRun.objects.create(execution=execution, step_id="log", attempt=1, status="SUCCESS",
                                 input={"message": "{{ event.id }}"}, output=["a", {"b": 2}], settings=s)

    assert Execution.objects.get(id=execution.id, settings=s).context == context
    with psycopg.connect(s.dsn) as conn:
        query = "SELECT context, error FROM execution WHERE id = %s"
        stored = conn.execute(query, (execution.id,)).fetchone()
    assert stored == (context, None)
    assert StepRun.objects.get(execution=execution, settings=s).output == ["a", {"b": 2}]
    assert Workflow.objects.get(automation=automation, settings=s).definition == DEFINITION

    assert run.idempotency_key == f"{execution.id}:log" and run.error_code is None
    assert run.execution == execution
    assert StepRun.objects.filter(execution__in=[execution], order_by="attempt", settings=s) == [run]


def test_unknown_fields_and_lookups_are_type_errors_naming_the_valid_fields(s: Settings) -> None:
    with pytest.raises(TypeError, match=r"unknown field 'stauts'; valid fields: .*automation_id.*status"):
        Execution.objects.filter(stauts="PENDING", settings=s)
    with pytest.raises(TypeError, match="unknown field 'colour'"):
        Automation.objects.create(slug="x", name="X", colour="red", settings=s)
    with pytest.raises(TypeError, match="unknown field 'priority'"):
        Execution.objects.filter(order_by="-priority", settings=s)
    with pytest.raises(TypeError, match="unsupported lookup 'attempt__gt'"):
        Execution.objects.count(attempt__gt=1, settings=s)
    with pytest.raises(TypeError, match=r"missing required field.*digest"):
        Workflow.objects.create(automation=str(uuid.uuid4()), version=1, definition={}, settings=s)
    with pytest.raises(ValueError, match="must be a UUID"):
        Automation.objects.create(id="nope", slug="x", name="X", settings=s)
    assert Automation.objects.count(settings=s) == 0


def test_calls_join_the_ambient_transaction_and_its_rollback_leaves_nothing(s: Settings) -> None:
    with psycopg.connect(s.dsn) as conn, psycopg.connect(s.dsn, autocommit=True) as outside:
        with use_connection(conn):
            assert current_connection() is conn
            made = Automation.objects.create(slug="ambient", name="Ambient")  # no settings: the ambient conn
            workflow = Workflow.objects.create(automation=made, version=1, definition={}, digest="d")
            conn.execute("UPDATE automation SET live_version = 1 WHERE id = %s", (made.id,))
            execution = Execution.objects.create(automation=made, context={"k": "v"})

            assert execution.workflow_id == workflow.id
            assert Execution.objects.count(id=execution.id) == 1
            assert Execution.objects.count(id=execution.id, using=outside) == 0  # not committed yet
            execution.refresh_from_db()
        assert current_connection() is None
        conn.rollback()

        assert Automation.objects.count(using=outside) == 0
        assert Execution.objects.count(using=outside) == 0
    assert Automation.objects.count(settings=s) == 0


def test_an_explicit_connection_is_used_and_committed_by_its_owner(
    s: Settings, automation: Automation
) -> None:
    with psycopg.connect(s.dsn) as conn:
        execution = Execution.objects.create(automation=automation, using=conn)
        assert Execution.objects.count(id=execution.id, settings=s) == 0
        conn.commit()
    assert Execution.objects.get(id=execution.id, settings=s).status == "PENDING"


def test_a_failed_create_inside_the_callers_transaction_does_not_abort_it(
    s: Settings, automation: Automation
) -> None:
    kept = Execution.objects.create(automation=automation, settings=s)
    with psycopg.connect(s.dsn) as conn, use_connection(conn):
        first = Execution.objects.create(automation=automation)
        with pytest.raises(psycopg.errors.UniqueViolation):
            Execution.objects.create(automation=automation, id=kept.id)
        second = Execution.objects.create(automation=automation)
        conn.commit()
    assert Execution.objects.count(id__in=[first.id, second.id], settings=s) == 2


def test_refresh_of_a_deleted_row_raises_does_not_exist(s: Settings, automation: Automation) -> None:
    execution = Execution.objects.create(automation=automation, settings=s)
    with psycopg.connect(s.dsn) as conn:
        conn.execute("DELETE FROM execution WHERE id = %s", (execution.id,))
    with pytest.raises(Execution.DoesNotExist):
        execution.refresh_from_db()


SEED_SCRIPT = """
from automate.models import Automation, Execution, Workflow
automation = Automation.objects.create(slug="seed", name="Seed")
Workflow.objects.create(automation=automation, version=1, definition={"steps": []}, digest="d")
import psycopg
from automate.config import get_settings
with psycopg.connect(get_settings().dsn) as conn:
    conn.execute("UPDATE automation SET live_version = 1 WHERE id = %s", (automation.id,))
execution = Execution.objects.create(automation=automation, context={"order_id": "ORD-123"})
execution.refresh_from_db()
print(execution.id, execution.status, execution.tenant)
"""


def test_without_settings_the_process_settings_name_the_database(s: Settings) -> None:
    env = {**os.environ, "AUTOMATE_DATABASE_URL": s.dsn, "AUTOMATE_TENANT": "from-env"}
    done = subprocess.run([sys.executable, "-W", "error", "-c", SEED_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # the pool was closed at exit without a warning
    execution_id, status, tenant = done.stdout.split()
    assert (status, tenant) == ("PENDING", "from-env")
    assert Execution.objects.get(id=execution_id, settings=s).context == {"order_id": "ORD-123"}
