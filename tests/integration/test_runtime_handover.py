"""A runtime worker handing partitions over in a rebalance: the messages it is still working on are
finished and committed before the partitions move, so the next owner does not run them a second time.

Found in `automate demo`: its second runtime worker joined while the first was calling the SMTP server,
and every e-mail of the moved partitions went out twice (the new owner read them again from the last
committed offset while the first owner was still sending them)."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from automate.config import Settings
from automate.events import run_workflow
from automate.topics import workflow_topic
from tests.integration.peers import http_peer
from tests.integration.runtime_support import Workers, apply_workflow, status_of
from tests.support import assert_eventually, partitions_held

pytestmark = pytest.mark.integration

CALLS = 24
CALL_S = 4.0  # each call holds its message this long: a rebalance finds many in flight


def _relay(settings: Settings) -> None:
    from automate_core.outbox.relay import Relay

    with Relay(settings) as relay:
        relay.drain()


def _all_committed(settings: Settings, group: str, topic: str) -> bool:
    reader = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": group})
    try:
        partitions = reader.list_topics(topic, timeout=30).topics[topic].partitions
        committed = reader.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
        ends = [reader.get_watermark_offsets(c, timeout=30)[1] for c in committed]
        return all(c.offset == end or (end == 0 and c.offset < 0)
                   for c, end in zip(committed, ends, strict=True))
    finally:
        reader.close()


def test_messages_in_flight_when_partitions_move_are_not_run_again(db_settings: Settings) -> None:
    s = Settings(**{**db_settings.model_dump(), "http_allowlist": ("127.0.0.1/32",)})
    suffix = f"-{uuid.uuid4().hex[:6]}"
    group = f"{s.topic_prefix}-runtime{suffix}"
    client = AdminClient({"bootstrap.servers": s.bootstrap_servers})

    def slow(_request: object) -> tuple[int, dict[str, str], bytes]:
        time.sleep(CALL_S)
        return 200, {"Content-Type": "application/json"}, b"{}"

    with http_peer(slow) as peer:
        apply_workflow(s, {"slug": "handover", "name": "handover", "steps": [
            {"id": "call", "action": "http.request",
             "input": {"url": peer.url + "/effect", "method": "POST",
                       "json": {"n": "{{ execution.context.n }}"}}}]})
        with Workers(s, group_suffix=suffix) as first:
            assert_eventually(lambda: partitions_held(client, group) != [], timeout=60)
            ids = [run_workflow("handover", {"n": n}, settings=s) for n in range(CALLS)]
            _relay(s)
            assert_eventually(lambda: len(peer.requests) >= CALLS // 2, timeout=60)  # many calls under way
            with Workers(s, group_suffix=suffix) as second:
                assert_eventually(lambda: len(partitions_held(client, group)) == 2, timeout=60)
                assert_eventually(lambda: all(status_of(s, i) == "SUCCESS" for i in ids), timeout=120)
                # Every message committed by one or the other: any second run of one has been made.
                topic = workflow_topic(s, "handover")
                assert_eventually(lambda: _all_committed(s, group, topic), timeout=60)
        calls = Counter(json.loads(r.body)["n"] for r in peer.requests)
    assert calls == Counter({n: 1 for n in range(CALLS)}), {n: c for n, c in calls.items() if c > 1}
    assert first.runtime.stats["finished"] + second.runtime.stats["finished"] == CALLS
