"""The llm.chat step through the runtime (Runtime.run_execution, in process): a message templated from
the execution's context, structured output used by the next step, the key from a connection's secret,
a spent budget stopping the step, and a refused key appearing in no row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from automate.config import Settings
from automate.errors import WorkflowValidationError
from automate.models import Automation, Execution
from automate.runtime import Runtime
from automate.secrets.admin import set_secret
from automate_connectors.connections import set_connection
from automate_llm import set_budget
from tests.integration.llm_peers import LlmPeer, anthropic_server, openai_server
from tests.integration.runtime_support import apply_workflow, step_runs

pytestmark = pytest.mark.integration

SCHEMA = {"type": "object", "required": ["city", "country"],
          "properties": {"city": {"type": "string"}, "country": {"type": "string"}}}
LEAKY_KEY = "sk-proj-STEPLEAK-0123456789abcdef"


def _workflow(**step: Any) -> dict[str, Any]:
    chat = {"id": "ask", "action": "llm.chat", "connection": "openai-main", "input": {
        "model": "gpt-4o", "temperature": 0, "schema": SCHEMA,
        "messages": [{"role": "system", "content": "Answer as JSON."},
                     {"role": "user", "content": "Where is order {{ execution.context.order_id }} going? "
                                                 "{{ execution.context.note }}"}]}, **step}
    return {"slug": "geo", "name": "Geo", "steps": [
        chat,
        {"id": "shape", "action": "core.transform", "needs": ["ask"],
         "input": {"city": "{{ steps.ask.output.json.city }}",
                   "tokens": "{{ steps.ask.output.usage.input_tokens }}"}},
    ]}


@pytest.fixture
def peer(db_settings: Settings) -> Iterator[LlmPeer]:
    with openai_server() as served:
        set_secret(db_settings, "OPENAI_KEY", served.key, scopes=["connector:llm"])
        set_connection(db_settings, "openai-main", "llm", {"api_key": "$secret:OPENAI_KEY",
                                                           "base_url": served.url + "/v1"})
        yield served


def _run(settings: Settings, definition: dict[str, Any], context: dict[str, Any]) -> Execution:
    apply_workflow(settings, definition)
    automation = Automation.objects.get(slug=str(definition["slug"]), settings=settings)
    execution = Execution.objects.create(automation=automation, context=context, settings=settings)
    Runtime(settings).run_execution(execution.id)
    execution.refresh_from_db()
    return execution


def _rows(settings: Settings, execution_id: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(settings.dsn) as conn:
        rows = conn.execute("SELECT step_id, status, input, output, error_code, error_message FROM step_run "
                            "WHERE execution_id = %s", (execution_id,)).fetchall()
    return {r[0]: {"status": r[1], "input": r[2], "output": r[3], "error_code": r[4], "error": r[5]}
            for r in rows}


def test_a_templated_chat_step_with_structured_output(db_settings: Settings, peer: LlmPeer) -> None:
    execution = _run(db_settings, _workflow(), {"order_id": "ORD-7", "note": "Ship to the capital."})
    assert execution.status == "SUCCESS"
    rows = _rows(db_settings, str(execution.id))
    output = rows["ask"]["output"]
    assert output["json"] == {"city": "Paris", "country": "France"} and output["model"] == "gpt-4o"
    assert output["cached"] is False and output["cost_usd"] > 0
    assert output["usage"]["input_tokens"] > 0 and output["usage"]["output_tokens"] == 4
    assert rows["shape"]["output"]["city"] == "Paris"
    (body,) = peer.bodies()
    assert body["messages"][1]["content"] == "Where is order ORD-7 going? Ship to the capital."
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert peer.key not in str(rows)


def test_a_spent_budget_stops_the_step(db_settings: Settings, peer: LlmPeer) -> None:
    # a call reserves its prompt's estimate (about 23 tokens) and its max_tokens (20); it is charged 20
    set_budget(db_settings, "geo", tokens=50)
    definition = _workflow()
    definition["steps"][0]["input"]["max_tokens"] = 20
    assert _run(db_settings, definition, {"order_id": "ORD-1", "note": ""}).status == "SUCCESS"
    execution = _run(db_settings, definition, {"order_id": "ORD-2", "note": ""})
    assert execution.status == "FAILED"
    runs = step_runs(db_settings, str(execution.id))
    assert [(r[0], r[2], r[3]) for r in runs] == [("ask", "FAILED", "llm.budget_exceeded")]
    assert len(peer.http.requests) == 1


def test_a_refused_key_appears_in_no_row(db_settings: Settings, peer: LlmPeer) -> None:
    set_secret(db_settings, "OPENAI_KEY", LEAKY_KEY, scopes=["connector:llm"])
    execution = _run(db_settings, _workflow(), {"order_id": "ORD-3", "note": ""})
    assert execution.status == "FAILED"
    rows = _rows(db_settings, str(execution.id))
    assert rows["ask"]["error_code"] == "llm.key_missing" and "HTTP 401" in rows["ask"]["error"]
    with psycopg.connect(db_settings.dsn) as conn:
        everything = str(conn.execute("SELECT * FROM step_run").fetchall()) + str(
            conn.execute("SELECT * FROM execution").fetchall())
    assert LEAKY_KEY not in everything
    assert len(peer.http.requests) == 1  # refused keys are not retried


def test_the_model_must_be_written_out(db_settings: Settings, peer: LlmPeer) -> None:
    definition = _workflow()
    definition["steps"][0]["input"]["model"] = "{{ execution.context.model }}"
    with pytest.raises(WorkflowValidationError, match="model must be written out"):
        apply_workflow(db_settings, definition)


def test_a_step_cannot_send_its_connection_s_key_to_another_provider(
        db_settings: Settings, peer: LlmPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    with anthropic_server() as other:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", other.url)
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        definition = _workflow()
        definition["steps"][0]["input"].update(provider="anthropic", model="claude-3-5-haiku-latest")
        execution = _run(db_settings, definition, {"order_id": "ORD-4", "note": ""})
        assert execution.status == "FAILED"
        rows = _rows(db_settings, str(execution.id))
        assert rows["ask"]["error_code"] == "usage" and "connection is for openai" in rows["ask"]["error"]
        assert other.http.requests == [] and peer.http.requests == []


def test_a_connection_s_server_never_gets_the_worker_s_own_key(
        db_settings: Settings, peer: LlmPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-worker-own-key-0000")
    set_connection(db_settings, "openai-main", "llm", {"provider": "openai", "base_url": peer.url + "/v1"})
    execution = _run(db_settings, _workflow(), {"order_id": "ORD-5", "note": ""})
    assert execution.status == "FAILED"
    rows = _rows(db_settings, str(execution.id))
    assert rows["ask"]["error_code"] == "usage" and "must set api_key" in rows["ask"]["error"]
    assert peer.http.requests == []
