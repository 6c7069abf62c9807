"""Creating the project's topics with the AdminClient (the broker does not auto-create them).
Needs the ``kafka`` extra."""

from __future__ import annotations

from collections.abc import Iterable

from automate.config import Settings
from automate.errors import AutomateError

__all__ = ["BATCHED_FETCH", "FAILOVER", "RETRY_TIER_NAMES", "core_topics", "ensure_topics"]

# Consumer settings the workers share. A killed worker's partitions move after 10 s (the default, 45 s,
# stalls them that long):
FAILOVER = {"session.timeout.ms": 10_000, "heartbeat.interval.ms": 2_000}
# A fetch is answered with 64 KB or after 20 ms, not with each record as it arrives: under load that is
# 50 fetches a second instead of hundreds, and the broker's cost is per request (docs/pipeline.md).
BATCHED_FETCH = {"fetch.min.bytes": 65536, "fetch.wait.max.ms": 20}


# The retry tiers' fixed delays (DESIGN.md); the runtime picks the smallest at least a backoff.
RETRY_TIER_NAMES = ("1s", "10s", "1m", "10m", "1h")


def core_topics(settings: Settings) -> list[str]:
    """Topics every deployment has: the events, the dead letters, the retry tiers."""
    return [settings.topic("events"), settings.topic("dlq"),
            *(settings.topic(f"retry.{tier}") for tier in RETRY_TIER_NAMES)]


def ensure_topics(settings: Settings, names: Iterable[str], *, partitions: int | None = None,
                  timeout: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet (``partitions``: the settings' ``topic_partitions``);
    returns those created."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "log_level": 3})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise AutomateError(
            f"Kafka at {settings.bootstrap_servers} unreachable: {exc}", retryable=True
        ) from exc
    wanted = [n for n in dict.fromkeys(names) if n not in existing]
    if not wanted:
        return []
    count = partitions or settings.topic_partitions
    futures = admin.create_topics([NewTopic(n, num_partitions=count, replication_factor=1) for n in wanted])
    created: list[str] = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise AutomateError(f"could not create topic {name}: {exc}") from exc
    return created
