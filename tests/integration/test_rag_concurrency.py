"""Concurrent writers on one LanceDB endpoint (threads and processes) on the real Postgres: first writes
racing to create the endpoint and its table, index builds racing with writes, the index builder's lock,
a delete waiting for a write in progress, a table whose directory went away."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import rag
from automate.config import Settings
from automate.db.context import close_pools
from automate.errors import RagEndpointNotFound, RagUnavailable
from rag.endpoints import writing
from rag.stores.lancedb import data_dir

pytestmark = pytest.mark.integration

WRITER = '''
import os, sys, time
from pathlib import Path
import rag

slug, name, calls, per_call = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
go = Path(os.environ["AUTOMATE_HOME"]) / "go"
while not go.exists():  # every writer starts together
    time.sleep(0.01)
for c in range(calls):
    docs = [{"id": f"{name}-{c}-{i}", "content": f"note {i} of call {c} by {name} on topic {i % 7}",
             "metadata": {"writer": name}} for i in range(per_call)]
    print(rag.index_documents(slug, docs), flush=True)
'''


@pytest.fixture
def s(db_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(**{**db_settings.model_dump(), "home": tmp_path / "home"})
    settings.home.mkdir(parents=True)
    yield settings
    close_pools(settings)


def _docs(name: str, n: int) -> list[dict[str, Any]]:
    return [{"id": f"{name}-{i}", "content": f"note {i} written by {name} about topic {i % 5}"}
            for i in range(n)]


def _writers(s: Settings, slug: str, names: list[str], calls: int, per_call: int) -> list[list[int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOMATE_", "OPENAI_", "PINECONE_"))}
    env.update({"AUTOMATE_DATABASE_URL": s.dsn, "AUTOMATE_HOME": str(s.home)})
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), slug, name, str(calls),
                               str(per_call)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=s.home) for name in names]
    (s.home / "go").touch()
    counts = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        counts.append([int(line) for line in out.split()])
    return counts


def _stored(s: Settings, slug: str) -> set[str]:
    endpoint = rag.get_endpoint(slug, settings=s)
    import lancedb

    table = lancedb.connect(str(data_dir(s, s.tenant, endpoint.id))).open_table("chunks")
    return set(table.to_arrow().column("doc").to_pylist())


def test_concurrent_first_writes_in_threads_create_one_endpoint(s: Settings) -> None:
    barrier = threading.Barrier(4)
    results: dict[int, int | BaseException] = {}

    def write(n: int) -> None:
        barrier.wait()
        try:
            results[n] = rag.index_documents("kb", _docs(f"t{n}", 20), settings=s)
        except BaseException as exc:  # reported by the assertion below
            results[n] = exc

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: 20 for n in range(4)}
    assert len(rag.list_endpoints(settings=s)) == 1
    assert _stored(s, "kb") == {f"t{n}-{i}" for n in range(4) for i in range(20)}


def test_concurrent_first_writes_in_processes_create_one_table(s: Settings) -> None:
    counts = _writers(s, "kb", ["a", "b", "c"], calls=1, per_call=30)
    assert counts == [[30], [30], [30]]
    assert len(rag.list_endpoints(settings=s)) == 1
    assert _stored(s, "kb") == {f"{w}-0-{i}" for w in "abc" for i in range(30)}


def test_index_builds_racing_with_writes_never_fail_a_write(s: Settings) -> None:
    rag.create_endpoint("kb", store={"kind": "lancedb", "index_min_rows": 256}, settings=s)
    counts = _writers(s, "kb", ["a", "b", "c"], calls=5, per_call=80)
    assert counts == [[80] * 5] * 3
    assert _stored(s, "kb") == {f"{w}-{c}-{i}" for w in "abc" for c in range(5) for i in range(80)}
    rag.index_documents("kb", _docs("last", 1), settings=s)  # a write after the race: the index is there
    stats = rag.describe_endpoint("kb", settings=s).store
    assert (stats.documents, stats.index) == (1201, "IvfHnswSq")
    hit = rag.query("kb", "note 3 of call 2 by b on topic 3", top_k=1, settings=s)
    assert hit[0]["id"] == "b-2-3"


def test_one_index_builder_at_a_time_and_the_next_write_retries(s: Settings) -> None:
    rag.create_endpoint("kb", store={"kind": "lancedb", "index_min_rows": 256}, settings=s)
    rag.index_documents("kb", _docs("a", 10), settings=s)
    lock_path = data_dir(s, s.tenant, rag.get_endpoint("kb", settings=s).id) / "index.lock"
    with open(lock_path, "a+b") as held:  # another process building: this one skips, its write succeeds
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert rag.index_documents("kb", _docs("b", 300), settings=s) == 300
        assert rag.describe_endpoint("kb", settings=s).store.index == "exact"
    assert rag.index_documents("kb", _docs("c", 1), settings=s) == 1
    assert rag.describe_endpoint("kb", settings=s).store.index == "IvfHnswSq"


def test_delete_endpoint_waits_for_a_write_in_progress(s: Settings) -> None:
    rag.index_documents("kb", _docs("a", 3), settings=s)
    deleted: list[bool] = []
    with writing("kb", s.tenant, s) as endpoint:  # a writer's transaction: the row held FOR SHARE
        thread = threading.Thread(target=lambda: deleted.append(rag.delete_endpoint("kb", settings=s)))
        thread.start()
        with psycopg.connect(s.dsn, autocommit=True) as conn:
            while not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND query LIKE 'DELETE FROM rag_endpoint%%'").fetchone()[0]:  # type: ignore[index]
                assert thread.is_alive()
        assert deleted == [] and data_dir(s, s.tenant, endpoint.id).exists()
    thread.join()
    assert deleted == [True] and not data_dir(s, s.tenant, endpoint.id).exists()
    assert not any(p.name.startswith(".") for p in data_dir(s, s.tenant, endpoint.id).parent.iterdir())


def test_a_table_whose_directory_went_is_a_typed_error(s: Settings) -> None:
    rag.index_documents("kb", _docs("a", 3), settings=s)
    rag.query("kb", "note", settings=s)  # the table handle is kept
    folder = data_dir(s, s.tenant, rag.get_endpoint("kb", settings=s).id)
    os.rename(folder, folder.with_name("moved-away"))  # as another process's delete_endpoint does
    with pytest.raises((RagEndpointNotFound, RagUnavailable)) as failed:
        rag.query("kb", "note", settings=s)
    assert str(s.home) not in str(failed.value) and failed.value.__cause__ is None


def test_a_failed_index_maintenance_is_logged_and_the_write_stands(s: Settings,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    rag.create_endpoint("kb", store={"kind": "lancedb", "index_min_rows": 256}, settings=s)
    rag.index_documents("kb", _docs("a", 10), settings=s)
    lock_path = data_dir(s, s.tenant, rag.get_endpoint("kb", settings=s).id) / "index.lock"
    lock_path.unlink()
    lock_path.mkdir()  # maintenance cannot even take its lock: it fails, the committed write stands
    with caplog.at_level("WARNING", logger="automate.rag"):
        assert rag.index_documents("kb", _docs("b", 300), settings=s) == 300
    [record] = [r for r in caplog.records if getattr(r, "action", None) == "rag.index_maintenance_failed"]
    assert record.error == "IsADirectoryError"  # type: ignore[attr-defined]
    assert rag.describe_endpoint("kb", settings=s).store.documents == 310
    lock_path.rmdir()
    rag.index_documents("kb", _docs("c", 1), settings=s)  # the next write builds the index
    assert rag.describe_endpoint("kb", settings=s).store.index == "IvfHnswSq"
