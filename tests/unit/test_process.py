"""Process records: detached spawn, liveness that survives pid reuse, stop without leftovers."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from automate.stack import process
from tests.support import assert_eventually


def test_spawn_detaches_and_stop_ends_the_process(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    record = process.spawn(["sh", "-c", "echo hello; exec sleep 60"], log_path=log, cwd=tmp_path)
    assert process.alive(record)
    stopped_by_kill = process.stop(record, sig=signal.SIGTERM, timeout=5)
    assert stopped_by_kill is False
    assert not process.alive(record)
    assert "hello" in process.tail(log)


def test_a_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    log = tmp_path / "log"
    record = process.spawn(["sh", "-c", "trap '' TERM; echo armed-$((1 + 1)); while :; do sleep 0.1; done"],
                           log_path=log, cwd=tmp_path)
    # The log's header line repeats the command, so wait for what only the running shell prints.
    assert_eventually(lambda: "armed-2" in process.tail(log), timeout=10, interval=0.02)
    assert process.stop(record, timeout=0.5) is True
    assert not process.alive(record)


def test_a_reused_pid_is_not_taken_for_ours(tmp_path: Path) -> None:
    record = process.spawn(["sleep", "60"], log_path=tmp_path / "log", cwd=tmp_path)
    impostor = process.ProcessRecord(record.pid, record.start_ticks + 1, record.started_at, (), ())
    assert process.alive(record) and not process.alive(impostor)
    process.stop(record, timeout=5)


def test_stopping_a_stale_record_spares_the_group_that_reused_its_pid(tmp_path: Path) -> None:
    """`automate down` with a pid file whose pid now leads someone else's process group kills nothing."""
    other = process.spawn(["sleep", "60"], log_path=tmp_path / "log", cwd=tmp_path)  # a group leader
    stale = process.ProcessRecord(other.pid, other.start_ticks + 1, other.started_at, (), ())
    try:
        assert process.stop(stale, timeout=1) is False
        time.sleep(0.2)
        assert process.alive(other), "the stale record's stop killed a process that was not ours"
    finally:
        process.stop(other, timeout=5)
    assert not process.alive(other)


def test_stop_kills_the_children_a_dead_service_left_behind(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    record = process.spawn(["sh", "-c", f"sleep 60 & echo $! > {marker}; exit 0"],
                           log_path=tmp_path / "log", cwd=tmp_path)
    assert_eventually(lambda: marker.exists() and marker.read_text().strip() != "", timeout=10)
    pid = int(marker.read_text())
    child = process.ProcessRecord(pid, process._start_ticks(pid) or 0, 0.0, (), ())
    assert_eventually(lambda: not process.alive(record), timeout=10)  # the service itself is gone
    assert process.alive(child)
    process.stop(record, timeout=1)
    assert_eventually(lambda: not process.alive(child), timeout=5)


def test_records_round_trip_and_garbage_reads_as_absent(tmp_path: Path) -> None:
    path = tmp_path / "run" / "x.json"
    rec = process.ProcessRecord(123, 456, 1.5, (1, 2), ("a", "b"))
    process.write_record(path, rec)
    assert process.read_record(path) == rec
    path.write_text('{"pid": "nope"}')
    assert process.read_record(path) is None
    assert process.read_record(tmp_path / "missing.json") is None


def test_port_is_free_sees_a_listener() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not process.port_is_free(sock.getsockname()[1])
