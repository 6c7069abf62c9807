"""Kafka, as every part of the pipeline uses it: the clients and their configuration in one place.

The relay, the processors, the runtime and the retry worker (and the operator's tools) make their
producers, consumers and admin clients here, from one base configuration each plus the few settings a
role changes, named where it changes them. Nothing else imports confluent-kafka (a test holds to that,
save ``automate smoke``, which exercises the official registry serializer on purpose). Needs the
``kafka`` extra.

Why these settings (measured on the local stack, see docs/pipeline.md): the broker spends about 0.3 ms of
CPU per request whatever its size, so producers wait up to 10 ms for records to share one and consumers
ask for 64 KB or 20 ms; a killed worker's partitions move after 10 s, not the default 45 s.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from automate.config import Settings
from automate.errors import ErrorCodes, TransportError
from automate.kafka_security import librdkafka_config
from automate.sizes import producer_size_config, topic_size_config

__all__ = [
    "BATCHED_FETCH",
    "FAILOVER",
    "AsyncProducer",
    "Consumer",
    "KafkaError",
    "KafkaException",
    "Message",
    "Producer",
    "TopicPartition",
    "admin",
    "allow_prefixed",
    "broker_ready",
    "consumer",
    "create_topics",
    "delete_topics",
    "delivery_error",
    "high_watermarks",
    "producer",
    "read_between",
    "refused",
    "solo_producer",
    "take",
    "too_large",
    "topic_limits",
]

# Every producer: idempotent (no duplicate from a retried request), keys placed where Java clients, and so
# Debezium, place them (murmur2), records sharing a request for up to 10 ms.
_PRODUCER: dict[str, Any] = {
    "enable.idempotence": True,
    "partitioner": "murmur2_random",
    "linger.ms": 10,
    "batch.num.messages": 10000,
    "log_level": 3,
}
# Every consumer: offsets committed by the worker, when its work is done; a new group starts at the start.
_CONSUMER: dict[str, Any] = {"enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 3}
# For a group whose members share partitions: a killed member's partitions move after 10 s.
FAILOVER: dict[str, Any] = {"session.timeout.ms": 10_000, "heartbeat.interval.ms": 2_000}
# For a high-volume consumer: a fetch is answered with 64 KB or after 20 ms, not with each record as it
# arrives (under load, 50 fetches a second instead of hundreds).
BATCHED_FETCH: dict[str, Any] = {"fetch.min.bytes": 65536, "fetch.wait.max.ms": 20}


def _base(settings: Settings, *, admin: bool = False) -> dict[str, Any]:
    """The brokers and how to authenticate to them (``AUTOMATE_KAFKA_*``, :mod:`automate.kafka_security`):
    every client of the deployment starts from this."""
    return {"bootstrap.servers": settings.bootstrap_servers, **librdkafka_config(settings, admin=admin)}


def producer(settings: Settings, **overrides: Any) -> Producer:
    """A producer for the deployment's brokers, its size limits those of :mod:`automate.sizes`;
    ``overrides`` are librdkafka settings (dotted names spelled with underscores are not translated: pass
    ``**{"linger.ms": 2}``)."""
    return Producer({**_base(settings), **_PRODUCER, **producer_size_config(settings), **overrides})


def solo_producer(settings: Settings, **overrides: Any) -> Producer:
    """A producer that sends every record in a batch of its own: to tell a record the broker refuses for
    its own size from one refused with the batch it shared (librdkafka does not split a refused batch, as
    the Java producer does), where a topic's ``max.message.bytes`` is below the producers' batch size."""
    return producer(settings, **{**overrides, "batch.num.messages": 1, "linger.ms": 0})


def consumer(settings: Settings, group: str, **overrides: Any) -> Consumer:
    """A consumer in ``group`` that commits nothing on its own."""
    return Consumer({**_base(settings), "group.id": group, **_CONSUMER, **overrides})


def admin(settings: Settings, *, superuser: bool = False, **overrides: Any) -> AdminClient:
    """An admin client; ``superuser``: as the local SCRAM stack's ``admin`` (setting its ACLs up)."""
    return AdminClient({**_base(settings, admin=superuser), "log_level": 3, **overrides})


def broker_ready(bootstrap: str, timeout: float = 2.0, *, settings: Settings | None = None) -> bool:
    """Whether a broker answers at ``bootstrap`` (quietly: refused connections while it starts are
    expected), authenticating as ``settings`` say."""
    security = librdkafka_config(settings) if settings is not None else {}
    probe = AdminClient({"bootstrap.servers": bootstrap, **security,
                         "socket.timeout.ms": int(timeout * 1000), "log_level": 0})
    try:
        return bool(probe.list_topics(timeout=timeout).brokers)
    except Exception:  # any failure to answer means: not ready (yet)
        return False


def take(source: Consumer, max_messages: int, timeout: float) -> list[Message]:
    """Up to ``max_messages`` buffered messages, waiting up to ``timeout`` only while there are none.

    (``consume(n, timeout)`` waits for ``n`` messages or the full timeout: at a low rate, every message
    would wait the timeout out.)"""
    first = source.poll(timeout)
    if first is None:
        return []
    return [first, *source.consume(max_messages - 1, 0)]


def create_topics(settings: Settings, names: Iterable[str], *, partitions: int,
                  timeout: float = 30.0) -> list[str]:
    """Create the topics of ``names`` that do not exist yet, with the ``max.message.bytes`` of
    :mod:`automate.sizes`; returns those created.

    Raises:
        TransportError: Kafka could not be reached (retryable) or refused a topic.
    """
    refusals: list[KafkaError] = []
    client = admin(settings, error_cb=lambda err: refusals.append(err)
                   if err.code() == KafkaError._AUTHENTICATION else None)
    try:
        existing = set(client.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        client.poll(0)  # serves error_cb
        if refusals:
            raise TransportError(f"Kafka at {settings.bootstrap_servers} refused the client's credentials "
                                 f"({settings.kafka_security_protocol}): {refusals[-1].str()}",
                                 code=ErrorCodes.KAFKA_AUTH) from exc
        raise TransportError(f"Kafka at {settings.bootstrap_servers} unreachable: {exc}",
                             retryable=True) from exc
    wanted = [n for n in dict.fromkeys(names) if n not in existing]
    if not wanted:
        return []
    futures = client.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1,
                                             config=topic_size_config(settings))
                                    for n in wanted])
    created: list[str] = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                raise TransportError(f"not allowed to create topic {name} (an ACL refused it): {exc}",
                                     code=ErrorCodes.KAFKA_AUTH) from exc
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise TransportError(f"could not create topic {name}: {exc}",
                                     code=ErrorCodes.KAFKA_TOPIC) from exc
    return created


def allow_prefixed(settings: Settings, principal: str, *, topics: Iterable[str], groups: Iterable[str],
                   timeout: float = 30.0) -> None:
    """Allow ``principal`` (``User:name``) every operation on the topics and the consumer groups whose
    names start with one of the prefixes, as the local SCRAM stack's super user (an ACL that exists
    already is kept).

    Raises:
        TransportError: The broker refused (``kafka.auth``) or did not answer (retryable).
    """
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    bindings = [AclBinding(kind, prefix, ResourcePatternType.PREFIXED, principal, "*", AclOperation.ALL,
                           AclPermissionType.ALLOW)
                for kind, prefixes in ((ResourceType.TOPIC, topics), (ResourceType.GROUP, groups))
                for prefix in dict.fromkeys(prefixes)]
    client = admin(settings, superuser=True)
    for binding, future in client.create_acls(bindings, request_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            raise TransportError(f"could not create the ACL {binding}: {exc}", code=ErrorCodes.KAFKA_AUTH,
                                 retryable=exc.args[0].retriable()) from exc


def topic_limits(settings: Settings, names: Iterable[str], *, timeout: float = 30.0) -> dict[str, int]:
    """The ``max.message.bytes`` of each topic of ``names`` (topics the broker does not know are left out).

    Raises:
        KafkaException: The broker did not answer.
    """
    from confluent_kafka.admin import ConfigResource, ResourceType  # type: ignore[attr-defined]

    resources = [ConfigResource(ResourceType.TOPIC, name) for name in dict.fromkeys(names)]
    if not resources:
        return {}
    client = admin(settings)  # (kept: the futures fail once their client is gone)
    limits: dict[str, int] = {}
    for resource, future in client.describe_configs(resources, request_timeout=timeout).items():
        try:
            limits[resource.name] = int(future.result(timeout)["max.message.bytes"].value)
        except (KafkaException, TimeoutError):  # e.g. no such topic
            continue
    return limits


def delete_topics(settings: Settings, prefix: str, *, timeout: float = 60.0) -> list[str]:
    """Delete every topic whose name starts with ``prefix`` (a benchmark's or a test's own)."""
    client = admin(settings)
    mine = [t for t in client.list_topics(timeout=timeout).topics if t.startswith(prefix)]
    if mine:
        for future in client.delete_topics(mine, operation_timeout=timeout).values():
            future.result(timeout * 2)
    return mine


def high_watermarks(settings: Settings, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """The next offset of every partition of ``topics`` (those that exist)."""
    import uuid

    reader = consumer(settings, f"automate-watermarks-{uuid.uuid4().hex}")
    try:
        metadata = reader.list_topics(timeout=10)
        marks: dict[tuple[str, int], int] = {}
        for topic in topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                continue
            for partition in found.partitions:
                _low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                marks[(topic, partition)] = int(high)
        return marks
    finally:
        reader.close()


def read_between(settings: Settings, before: dict[tuple[str, int], int], after: dict[tuple[str, int], int],
                 timeout: float = 30.0) -> list[Message]:
    """The records added to each partition between two :func:`high_watermarks` readings."""
    import time
    import uuid

    ranges = {tp: (before.get(tp, 0), end) for tp, end in after.items() if end > before.get(tp, 0)}
    if not ranges:
        return []
    reader = consumer(settings, f"automate-reader-{uuid.uuid4().hex}")
    found: list[Message] = []
    try:
        reader.assign([TopicPartition(t, p, start) for (t, p), (start, _end) in ranges.items()])
        remaining = {tp: end for tp, (_start, end) in ranges.items()}
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            for msg in reader.consume(1000, 0.5):
                if msg.error():
                    continue
                tp = (str(msg.topic()), int(msg.partition() or 0))
                offset = int(msg.offset() or 0)
                end = remaining.get(tp)
                if end is None or offset >= end:
                    continue
                if offset == end - 1:
                    del remaining[tp]
                found.append(msg)
    finally:
        reader.close()
    return found


# What Kafka refuses for the record itself (its size, its form): sending it again cannot succeed.
_REFUSED = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE,
                      KafkaError.INVALID_RECORD, KafkaError._INVALID_ARG})
_TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})


def too_large(err: KafkaError) -> bool:
    """Whether ``err`` refuses a record (or the batch it was in) for its size."""
    return err.code() in _TOO_LARGE


def refused(err: KafkaError) -> bool:
    """Whether ``err`` (of ``produce()`` or of a delivery report) refuses the record itself, for good: a
    record above ``message.max.bytes`` or the topic's ``max.message.bytes``, or one the broker calls
    invalid. Other errors (the broker away, a leader moving, a missing topic) may pass."""
    return err.code() in _REFUSED and not err.fatal()


def delivery_error(err: KafkaError, topic: str) -> TransportError:
    """The typed error of a record not delivered to ``topic``: ``kafka.record_too_large`` (permanent) for
    a record above a size limit, else ``kafka.delivery``, retryable unless :func:`refused`."""
    if err.code() in _TOO_LARGE:
        return TransportError(f"record refused by {topic}: {err.str()}",
                              code=ErrorCodes.KAFKA_RECORD_TOO_LARGE, retryable=False)
    return TransportError(f"delivery to {topic} failed: {err.str()}", code=ErrorCodes.KAFKA_DELIVERY,
                          retryable=not refused(err))


class AsyncProducer:
    """A producer with awaitable deliveries, for asyncio workers (a background thread serves its
    callbacks). Made for few records, each one waited for (step tasks, forwarded retries, dead letters),
    so it lingers 2 ms, not 10."""

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self._producer = producer(settings, **{"linger.ms": 2, **overrides})
        self._settings, self._overrides = settings, overrides
        self._solo: Producer | None = None  # made at the first record refused for its size
        self._closed = False
        self._thread = threading.Thread(target=self._poll, name="automate-producer-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._closed:
            self._producer.poll(0.05)
            solo = self._solo
            if solo is not None:
                solo.poll(0)

    async def send(self, topic: str, value: bytes | None, key: str | bytes | None = None,
                   headers: list[tuple[str, str | bytes | None]] | None = None) -> None:
        """Produce one record and wait for its acknowledgement. A record refused for its size is sent once
        more alone (:func:`solo_producer`): it may only have shared a batch too large for the topic.

        Raises:
            TransportError: The record was not taken (:func:`delivery_error`): ``kafka.record_too_large``
                (above a size limit, permanent) or ``kafka.delivery`` (retryable unless refused).
        """
        try:
            await self._send(self._producer, topic, value, key, headers)
        except TransportError as exc:
            if exc.code != ErrorCodes.KAFKA_RECORD_TOO_LARGE:
                raise
            if self._solo is None:
                self._solo = solo_producer(self._settings, **self._overrides)
            await self._send(self._solo, topic, value, key, headers)

    async def _send(self, target: Producer, topic: str, value: bytes | None, key: str | bytes | None,
                    headers: list[tuple[str, str | bytes | None]] | None) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(err: Any) -> None:
            if done.done():
                return
            if err is None:
                done.set_result(None)
            else:
                done.set_exception(delivery_error(err, topic))

        def on_delivery(err: Any, _msg: Any) -> None:
            loop.call_soon_threadsafe(settle, err)

        while True:
            try:
                target.produce(topic, value=value,
                               key=key.encode() if isinstance(key, str) and key else key or None,
                               headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                await asyncio.sleep(0.01)
            except KafkaException as exc:  # refused before sending, e.g. above message.max.bytes
                raise delivery_error(exc.args[0], topic) from None
        await done

    def close(self) -> None:
        self._producer.flush(10)
        if self._solo is not None:
            self._solo.flush(10)
        self._closed = True
        self._thread.join(2)
