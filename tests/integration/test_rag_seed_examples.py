"""The public API's RAG examples (index_documents, query), copied here as written, in a fresh process
configured with nothing but the test database and AUTOMATE_HOME: the offline embedder and the embedded
store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from automate.config import Settings

pytestmark = pytest.mark.integration

INDEX_EXAMPLE = '''
from rag import index_documents

count = index_documents(
    endpoint="support-docs",
    documents=[
        {
            "id": "doc-001",
            "content": "To reset your password, go to Settings...",
            "metadata": {"category": "authentication", "author": "admin"}
        },
        {
            "id": "doc-002",
            "content": "Two-factor authentication adds an extra layer...",
            "metadata": {"category": "security"}
        }
    ]
)
print(f"Indexed {count} documents")
'''

QUERY_EXAMPLE = '''
from rag import query

results = query(
    endpoint="support-docs",
    query_text="How do I reset my password?",
    top_k=3,
    filters={"category": "authentication"}
)

for doc in results:
    print(f"Score: {doc['score']:.2f}")
    print(f"Content: {doc['content'][:100]}...")
'''


def _run(script: str, settings: Settings, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUTOMATE_", "OPENAI_", "PINECONE_"))}
    env.update({"AUTOMATE_DATABASE_URL": settings.dsn, "AUTOMATE_HOME": str(home)})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          env=env, timeout=120, cwd=home)


def test_the_seed_rag_examples_run_as_written(db_settings: Settings, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    indexed = _run(INDEX_EXAMPLE, db_settings, home)
    assert indexed.returncode == 0, indexed.stderr
    assert indexed.stdout.strip() == "Indexed 2 documents"
    assert indexed.stderr == ""  # importing wordllama must not configure the root logger (INFO to stderr)

    queried = _run(QUERY_EXAMPLE, db_settings, home)
    assert queried.returncode == 0, queried.stderr
    assert queried.stderr == ""
    lines = queried.stdout.strip().splitlines()
    assert len(lines) == 2  # one document has the category
    assert lines[0].startswith("Score: 0.") and float(lines[0].split()[1]) > 0.3
    assert lines[1] == "Content: To reset your password, go to Settings......"
    assert list((home / "rag").rglob("chunks.lance"))  # the data is under AUTOMATE_HOME
