"""rag.index then rag.query as workflow steps, run by the runtime in-process; a bad filter fails its step
for good with the retrieval error's code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import rag
from automate.config import Settings
from automate.db.context import close_pools
from automate.models import Automation, Execution
from automate.runtime import Runtime
from tests.integration.runtime_support import apply_workflow, step_runs

pytestmark = pytest.mark.integration

DOCUMENTS = [
    {"id": "pw", "content": "To reset your password, go to Settings and choose Reset password.",
     "metadata": {"category": "authentication"}},
    {"id": "2fa", "content": "Two-factor authentication adds an extra layer to your sign in.",
     "metadata": {"category": "security"}},
]


def _run(settings: Settings, definition: dict[str, Any], context: dict[str, Any]) -> Execution:
    apply_workflow(settings, definition)
    automation = Automation.objects.get(slug=str(definition["slug"]), settings=settings)
    execution = Execution.objects.create(automation=automation, context=context, settings=settings)
    Runtime(settings).run_execution(execution.id)
    execution.refresh_from_db()
    return execution


def _outputs(settings: Settings, execution_id: str) -> dict[str, Any]:
    with psycopg.connect(settings.dsn) as conn:
        rows = conn.execute("SELECT step_id, output FROM step_run WHERE execution_id = %s",
                            (execution_id,)).fetchall()
    return {str(r[0]): r[1] if not isinstance(r[1], str) else json.loads(r[1]) for r in rows}


@pytest.fixture
def s(db_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(**{**db_settings.model_dump(), "home": tmp_path / "home"})
    yield settings
    close_pools(settings)


def test_index_then_query_steps(s: Settings) -> None:
    execution = _run(s, {"slug": "answer", "name": "answer", "steps": [
        {"id": "index", "action": "rag.index", "input": {"endpoint": "support-docs", "documents": DOCUMENTS}},
        {"id": "ask", "action": "rag.query", "needs": ["index"],
         "input": {"endpoint": "support-docs", "query": "{{ execution.context.question }}", "top_k": 3,
                   "filters": {"category": "authentication"}}},
    ]}, {"question": "How do I reset my password?"})
    assert execution.status == "SUCCESS", step_runs(s, execution.id)
    outputs = _outputs(s, execution.id)
    assert outputs["index"] == {"indexed": 2}
    [hit] = outputs["ask"]["results"]
    assert hit["id"] == "pw" and hit["metadata"] == {"category": "authentication"}
    assert hit["content"].startswith("To reset your password") and hit["score"] > 0
    # The step indexed for the automation's tenant: the library sees the same endpoint.
    assert [r["id"] for r in rag.query("support-docs", "sign in layer", top_k=1, settings=s)] == ["2fa"]


def test_a_bad_filter_fails_the_step_for_good(s: Settings) -> None:
    rag.index_documents("kb", DOCUMENTS, settings=s)
    execution = _run(s, {"slug": "bad", "name": "bad", "steps": [
        {"id": "ask", "action": "rag.query",
         "input": {"endpoint": "kb", "query": "password", "filters": {"category": {"$regex": "auth"}}}},
    ]}, {})
    assert execution.status == "FAILED"
    assert [(r[0], r[1], r[3]) for r in step_runs(s, execution.id)] == [("ask", 1, "rag.filter_invalid")]
    missing = _run(s, {"slug": "missing", "name": "missing", "steps": [
        {"id": "ask", "action": "rag.query", "input": {"endpoint": "nope", "query": "password"}},
    ]}, {})
    assert [r[3] for r in step_runs(s, missing.id)] == ["rag.endpoint_unknown"]
