"""The retry worker across rebalances (issue 16): a partition it held paused, revoked and assigned again (to
it or to another member), is read again from its committed offset and its records still leave when due.

librdkafka keeps a partition paused when the same consumer gets it back after an eager rebalance: without
the worker resuming what it no longer holds, a tier's partitions stayed paused (their records never came
back) after any retry worker joined or left the group."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from automate.config import Settings
from automate.runtime.retry_worker import RetryWorker
from automate.step_tasks import DUE_AT_HEADER, TARGET_HEADER
from automate.topics import RETRY_TIERS, ensure_topics, retry_topic
from tests.integration.runtime_support import running
from tests.support import assert_eventually, consume, partitions_held

pytestmark = pytest.mark.integration


def _shared(held: list[int], total: int) -> bool:
    """Whether two members share the ``total`` partitions, each holding some."""
    return len(held) == 2 and sum(held) == total and min(held) > 0


def test_partitions_held_paused_still_deliver_after_members_join_and_leave(db_settings: Settings) -> None:
    s = db_settings
    target = s.topic("workflow.good")
    ensure_topics(s, [target], partitions=1)
    tier = s.topic("retry.1m")
    client = AdminClient({"bootstrap.servers": s.bootstrap_servers})
    partitions = len(client.list_topics(tier, timeout=30).topics[tier].partitions)
    total = sum(len(client.list_topics(t, timeout=30).topics[t].partitions)
                for t in (retry_topic(s, each) for each in RETRY_TIERS))
    group = f"{s.topic_prefix}-retry-{uuid.uuid4().hex[:6]}"
    producer = Producer({"bootstrap.servers": s.bootstrap_servers})

    def produce(label: str, due_in_s: float) -> None:
        due = str(int((time.time() + due_in_s) * 1000)).encode()
        for p in range(partitions):
            producer.produce(tier, value=f"{label}-{p}".encode(), key=b"k", partition=p,
                             headers=[(DUE_AT_HEADER, due), (TARGET_HEADER, target.encode())])
        producer.flush(30)

    def delivered(labels: set[str], timeout: float) -> None:
        want = {f"{label}-{p}" for label in labels for p in range(partitions)}
        found = consume(s.bootstrap_servers, target,
                        lambda m: want <= {x.value().decode() for x in m}, timeout=timeout)
        assert want <= {m.value().decode() for m in found}

    first = RetryWorker(s, group=group)
    with running(first):
        # Each partition: one record due now (read, forwarded, committed), then one held for 20 s, which
        # pauses the partition.
        produce("warm", 0)
        produce("held", 20)
        delivered({"warm"}, timeout=120)
        assert_eventually(lambda: first.forwarded == partitions, timeout=60)
        time.sleep(3)  # the held records fetched behind the warm ones: every partition paused
        assert first.forwarded == partitions

        # A second member joins: every partition is revoked, half of them come back to the first.
        with running(RetryWorker(s, group=group)):
            assert_eventually(lambda: _shared(partitions_held(client, group), total), timeout=120, interval=1)
            produce("soon", 1)
            delivered({"held", "soon"}, timeout=180)

        # It leaves: the first holds every partition again, those it paused long ago among them.
        assert_eventually(lambda: partitions_held(client, group) == [total], timeout=120, interval=1)
        produce("later", 1)
        delivered({"later"}, timeout=180)
