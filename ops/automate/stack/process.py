"""Plain local processes: spawn detached, remember by pid file, probe, stop without leftovers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "ProcessRecord",
    "alive",
    "port_is_free",
    "read_record",
    "spawn",
    "stop",
    "tail",
    "write_record",
]


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """What a pid file remembers about a started service."""

    pid: int
    start_ticks: int  # /proc/<pid>/stat field 22: tells a reused pid from ours
    started_at: float  # epoch seconds
    ports: tuple[int, ...]
    command: tuple[str, ...]


def _start_ticks(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def alive(record: ProcessRecord) -> bool:
    """True when the recorded process still runs (and is the same process, not a reused pid)."""
    ticks = _start_ticks(record.pid)
    if ticks is None or ticks != record.start_ticks:
        return False
    try:
        state = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def read_record(path: Path) -> ProcessRecord | None:
    """The record in ``path``; None when absent or unreadable (a corrupted pid file counts as absent)."""
    try:
        data = json.loads(path.read_text())
        return ProcessRecord(
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            started_at=float(data["started_at"]),
            ports=tuple(int(p) for p in data["ports"]),
            command=tuple(str(c) for c in data["command"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(path: Path, record: ProcessRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(path)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# The shell starts the service in the background in a session of its own and prints its pid, then
# exits: the service is re-parented to init, so whoever started it (a CLI, a test run) neither waits
# for it nor leaves a zombie or a still-running child behind.
_DETACH = 'setsid "$@" </dev/null >>"$AUTOMATE_SPAWN_LOG" 2>&1 & echo $!'


def spawn(
    command: Sequence[str],
    *,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    ports: Sequence[int] = (),
) -> ProcessRecord:
    """Start ``command`` detached, as ``user`` if given, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    full_env["AUTOMATE_SPAWN_LOG"] = str(log_path)
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(command)}\n".encode())
    argv = list(command)
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *argv]
    out = subprocess.run(
        ["/bin/sh", "-c", _DETACH, "sh", *argv],
        cwd=cwd, env=full_env, capture_output=True, text=True, check=True,
    )
    pid = int(out.stdout.strip())
    ticks = _start_ticks(pid) or 0
    return ProcessRecord(pid, ticks, time.time(), tuple(ports), tuple(command))


def stop(record: ProcessRecord, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> bool:
    """Stop the process (``sig``, then SIGKILL to its whole group after ``timeout``).

    Returns True when it had to be killed.
    """
    if not alive(record):
        _kill_leftovers(record)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(record):
            _kill_leftovers(record)  # children it left behind, if any
            return False
        time.sleep(0.05)
    _kill_leftovers(record)
    end = time.monotonic() + 5
    while alive(record) and time.monotonic() < end:
        time.sleep(0.05)
    return True


def _kill_leftovers(record: ProcessRecord) -> None:
    """SIGKILL the recorded process's group: the service and the children it left behind.

    Not when its pid now belongs to another process (a reused pid): Linux hands out a pid again only once
    no process uses it as a process group id either, so that process's group (if it leads one) is not
    ours, and our service's group has no member left to kill.
    """
    ticks = _start_ticks(record.pid)
    if ticks is not None and ticks != record.start_ticks:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(record.pid, signal.SIGKILL)


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
