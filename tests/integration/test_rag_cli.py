"""``automate rag create|list|show|delete`` against the real Postgres, with the embedded store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import rag
from automate.config import Settings, get_settings
from automate.db.context import close_pools

pytestmark = pytest.mark.integration


@pytest.fixture
def run(db_settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, Callable[..., Result]]]:
    from automate.cli.main import cli

    env = {"AUTOMATE_DATABASE_URL": db_settings.dsn, "AUTOMATE_HOME": str(tmp_path / "home")}
    settings = Settings(**{**db_settings.model_dump(), "home": tmp_path / "home"})

    def invoke(*args: str) -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, ["rag", *args], env=env)
        finally:
            get_settings.cache_clear()

    yield settings, invoke
    close_pools()  # the CLI's own Settings (read from env) and ours each opened a pool


def test_create_list_show_delete(run: tuple[Settings, Callable[..., Result]]) -> None:
    settings, invoke = run
    made = invoke("create", "support-docs", "--store", '{"kind": "lancedb", "index": "exact"}',
                  "--chunk-size", "400", "--chunk-overlap", "40")
    assert made.exit_code == 0, made.output
    assert "endpoint support-docs created (wordllama, lancedb)" in made.output
    config = rag.get_endpoint("support-docs", settings=settings).config
    assert (config.chunk_size, config.chunk_overlap, config.store.index) == (400, 40, "exact")

    rag.index_documents("support-docs", [{"id": "a", "content": "alpha"}, {"id": "b", "content": "beta"}],
                        settings=settings)
    listed = invoke("list")
    assert listed.exit_code == 0 and "support-docs" in listed.output and "400/40" in listed.output
    shown = invoke("show", "support-docs")
    assert shown.exit_code == 0, shown.output
    assert "documents" in shown.output and " 2 " in shown.output and "exact" in shown.output

    again = invoke("create", "support-docs")
    assert again.exit_code == 1 and "exists already" in again.output
    bad = invoke("create", "other", "--embedder", '{"kind": "openai", "api_key": "sk-literal"}')
    assert bad.exit_code == 1 and "secret reference" in bad.output and "sk-literal" not in bad.output
    assert invoke("create", "x", "--store", "{not json").exit_code != 0

    deleted = invoke("delete", "support-docs")
    assert deleted.exit_code == 0 and "deleted" in deleted.output
    assert not list((settings.home / "rag").rglob("chunks.lance"))
    gone = invoke("show", "support-docs")
    assert gone.exit_code == 1 and "no retrieval endpoint support-docs" in gone.output
    assert invoke("delete", "support-docs").exit_code == 1
    assert rag.list_endpoints(settings=settings) == []
