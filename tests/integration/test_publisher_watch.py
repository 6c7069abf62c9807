"""The publisher watch keeps Debezium publishing with no human action: it restarts a FAILED task,
re-registers a connector Connect lost, and restarts a task that stays RUNNING but no longer reads its slot
(a connection made half-open by a proxy that stops forwarding); a PAUSED connector is left alone; and
``automate status`` says whether the installation's publisher works."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import generate_latest

from automate.config import Settings
from automate.publisher_watch import PublisherWatch
from automate.sizes import topic_max_bytes
from automate.stack.base import http_json
from automate.stack.cdc import default_names, ensure_outbox_connector
from tests.integration.publisher_support import (
    debezium_installation,
    emit,
    published_ids,
    slot_state,
    states,
    wait_publishing,
)
from tests.integration.size_support import generic_payload, set_topic_limit
from tests.support import assert_eventually

pytestmark = pytest.mark.integration

# Short timings for the tests; the stall test's shortest (a loaded machine may keep a task from reading a
# probe for several seconds, which the others should not take for a stall).
FAST = {"publisher_probe_interval_s": 0.5, "publisher_stall_after_s": 5.0}
CALM = {"publisher_probe_interval_s": 0.5, "publisher_stall_after_s": 10.0}


@pytest.fixture(scope="module")
def installation(stack: Settings, template_db: str) -> Iterator[Settings]:
    """One installation publishing through Debezium, shared by the tests below (each leaves it
    publishing); the watch's timings short."""
    with debezium_installation(stack, template_db, **CALM) as settings:
        assert ensure_outbox_connector(settings) == "created"
        wait_publishing(settings)
        yield settings


@contextmanager
def watching(settings: Settings) -> Iterator[PublisherWatch]:
    """The watch running in a thread, as `automate publisher-watch` runs it."""
    watch = PublisherWatch(settings)
    thread = threading.Thread(target=watch.run, name="publisher-watch", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        watch.stop_event.set()
        thread.join(30)
        assert not thread.is_alive()


def _connector_url(settings: Settings) -> str:
    return f"{settings.connect_base_url}/connectors/{default_names(settings).connector}"


def _flows(settings: Settings) -> None:
    """An event emitted now reaches the installation's topic."""
    ids = emit(settings, 2)
    assert ids <= published_ids(settings, ids, timeout=120)


def test_a_paused_connector_is_left_alone(installation: Settings) -> None:
    s = installation
    http_json("PUT", f"{_connector_url(s)}/pause")
    try:
        assert_eventually(lambda: states(s) == ["PAUSED", "PAUSED"], timeout=30)
        with watching(s) as watch:
            # Longer than stall_after: the probes written meanwhile stay unread by the paused task.
            time.sleep(s.publisher_stall_after_s + 2 * s.publisher_probe_interval_s + 1)
            assert watch.restarts == {"absent": 0, "failed": 0, "stalled": 0}
            assert states(s) == ["PAUSED", "PAUSED"]
            http_json("PUT", f"{_connector_url(s)}/resume")  # the operator resumes it
            wait_publishing(s)
            _flows(s)
    finally:
        http_json("PUT", f"{_connector_url(s)}/resume")


def test_an_absent_connector_is_registered_again(installation: Settings,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    s = installation
    with caplog.at_level(logging.WARNING, logger="automate.publisher_watch"), watching(s) as watch:
        http_json("DELETE", _connector_url(s))  # as a standalone worker that restarted forgets it
        assert_eventually(lambda: watch.restarts["absent"] >= 1, timeout=60)
        wait_publishing(s)
        _flows(s)
    assert any("not registered in Kafka Connect" in r.getMessage() and "created" in r.getMessage()
               for r in caplog.records)
    exported = generate_latest(watch.registry).decode()  # what `automate publisher-watch` serves
    assert 'automate_publisher_restarts_total{reason="absent"} 1.0' in exported, exported
    assert "automate_publisher_up " in exported and "automate_publisher_behind_bytes " in exported


def test_a_failed_task_is_restarted(installation: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """The broker refuses a record (its topic's limit lowered by hand): Connect fails the task for real.
    The watch restarts it until the limit is back, then the refused event and the ones after arrive."""
    s = installation
    topic = s.topic("events")
    set_topic_limit(s, topic, 10_000)
    try:
        with caplog.at_level(logging.WARNING, logger="automate.publisher_watch"), watching(s) as watch:
            big = emit_big(s)
            assert_eventually(lambda: watch.restarts["failed"] >= 1, timeout=90)
            set_topic_limit(s, topic, topic_max_bytes(s))
            wait_publishing(s)
            after = emit(s, 2)
            assert big | after <= published_ids(s, big | after, timeout=120)
    finally:
        set_topic_limit(s, topic, topic_max_bytes(s))
    failed = [r.getMessage() for r in caplog.records if "(failed," in r.getMessage()]
    assert failed and "FAILED" in failed[0], failed


def emit_big(settings: Settings) -> set[str]:
    import psycopg

    from automate.events import emit_event

    with psycopg.connect(settings.dsn) as conn:
        ident = emit_event("big.event", generic_payload(50_000), connection=conn, settings=settings)
        conn.commit()
    return {ident}


def _automate(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTOMATE_DATABASE_URL": settings.dsn,
           "AUTOMATE_TOPIC_PREFIX": settings.topic_prefix,
           "AUTOMATE_PUBLISHER": "debezium"}
    return subprocess.run([sys.executable, "-m", "automate.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_status_says_whether_the_publisher_works(installation: Settings) -> None:
    s = installation
    wait_publishing(s)
    healthy = _automate(s, "status", "--json")
    assert healthy.returncode == 0, healthy.stderr
    publisher = json.loads(healthy.stdout)["publisher"]
    assert publisher["working"] is True
    assert publisher["connector"] == default_names(s).connector
    assert publisher["states"] == ["RUNNING", "RUNNING"] and publisher["slot_active"] is True
    http_json("DELETE", _connector_url(s))
    try:
        broken = _automate(s, "status", "--json")
        assert broken.returncode == 1
        publisher = json.loads(broken.stdout)["publisher"]
        assert publisher["working"] is False
        assert publisher["problem"] == "not registered in Kafka Connect"
    finally:
        assert ensure_outbox_connector(s) == "created"
    wait_publishing(s)


class BlackholeProxy:
    """A TCP proxy to Postgres that can stop forwarding on the connections it holds without closing them
    (a half-open connection, as after a network partition); connections made afterwards pass."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.pairs: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            holed = threading.Event()
            with self.lock:
                self.pairs.append((client, server, holed))
            threading.Thread(target=self._pump, args=(client, server, holed, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, holed, False), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, holed: threading.Event, from_client: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            if holed.is_set():
                continue  # read and dropped: the sender never blocks, never hears back
            try:
                dst.sendall(data)
            except OSError:
                break
        if not holed.is_set() or from_client:  # a blackholed client never learns the server went away
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def blackhole(self) -> int:
        """Stop forwarding on every connection open now; returns how many."""
        with self.lock:
            for _, _, holed in self.pairs:
                holed.set()
            return len(self.pairs)

    def close(self) -> None:
        self.listener.close()
        with self.lock:
            for client, server, _ in self.pairs:
                client.close()
                server.close()


def test_a_task_that_stops_reading_its_slot_is_restarted(stack: Settings, template_db: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    import psycopg

    with debezium_installation(stack, template_db, **FAST) as direct:
        info = psycopg.conninfo.conninfo_to_dict(direct.dsn)
        proxy = BlackholeProxy(str(info["host"]), int(str(info["port"])))
        try:
            # The connector reaches Postgres through the proxy; the watch and the test directly.
            via_proxy = Settings(**{**direct.model_dump(), "database_url": psycopg.conninfo.make_conninfo(
                direct.dsn, port=str(proxy.port))})
            assert ensure_outbox_connector(via_proxy) == "created"
            wait_publishing(direct)
            _flows(direct)
            slot = default_names(direct).slot
            before = slot_state(direct, slot)
            assert before is not None and before.reader_pid is not None
            logs = caplog.at_level(logging.WARNING, logger="automate.publisher_watch")
            with logs, watching(direct) as watch:
                assert proxy.blackhole() >= 1
                stuck = emit(direct, 2)
                assert_eventually(lambda: sum(watch.restarts.values()) >= 1, timeout=90)
                wait_publishing(direct)
                assert stuck <= published_ids(direct, stuck, timeout=120)
                _flows(direct)
                restarts = dict(watch.restarts)
            assert restarts["stalled"] >= 1, (restarts, [r.getMessage() for r in caplog.records])
            after = slot_state(direct, slot)
            assert after is not None and after.active and after.reader_pid != before.reader_pid
            assert any("has not read a probe" in r.getMessage() for r in caplog.records)
        finally:
            try:
                from automate.stack.cdc import remove_outbox_connector

                remove_outbox_connector(direct)
            finally:
                proxy.close()


def test_a_switch_to_the_relay_is_not_undone(stack: Settings, template_db: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """`automate migrate` with the relay removes the connector while a watch (started for Debezium) still
    runs: the watch does not register it again (never both publishers on one table)."""
    import psycopg

    from automate.db import set_publisher

    with debezium_installation(stack, template_db, **CALM) as s:
        assert ensure_outbox_connector(s) == "created"
        wait_publishing(s)
        with caplog.at_level(logging.WARNING, logger="automate.publisher_watch"), watching(s) as watch:
            assert_eventually(lambda: watch.metrics.up._value.get() == 1, timeout=30)  # it watches
            with psycopg.connect(s.dsn) as conn:
                set_publisher(conn, "relay")
            assert ensure_outbox_connector(Settings(**{**s.model_dump(), "publisher": "relay"})) == "removed"
            time.sleep(6 * s.publisher_probe_interval_s + 1)
            assert watch.restarts["absent"] == 0
        assert states(s) == []
        assert any("relay" in r.getMessage() for r in caplog.records)
