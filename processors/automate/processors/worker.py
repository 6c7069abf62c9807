"""`automate processors`: one worker of the consumer group that turns events into execution requests.

The loop takes what the consumer has buffered (up to ``batch`` records; it waits only when nothing is
there, so a lone event is not held back), routes each record (:mod:`automate.processors.router`) and
produces its requests asynchronously. Batches are pipelined: the next batch is routed while the broker
acknowledges the previous ones, and a batch's offsets are committed once it and every batch before it are
acknowledged (at most every 100 ms). A crash anywhere before the commit re-delivers the batch; the
requests it produces again carry the same execution ids, and the runtime creates each execution once.
A record that cannot be read is dead-lettered with its bytes; so is an event whose request Kafka refuses
for good (above a size limit: ``kafka.record_too_large``, see :mod:`automate.sizes`), at once, or keeps
failing to deliver (``request.undeliverable``); the stream goes on.
"""

from __future__ import annotations

import collections
import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from automate import tracing, transport
from automate.config import Settings
from automate.errors import ErrorCodes, RecordError, RegistryError, TransportError
from automate.metrics import ConsumerLag
from automate.processors.core import ProcessorCore, request_headers
from automate.processors.metrics import ProcessorMetrics
from automate.topics import dlq_topic, ensure_topics, events_topic
from automate.transport import (
    BATCHED_FETCH,
    FAILOVER,
    KafkaError,
    KafkaException,
    TopicPartition,
    delivery_error,
    refused,
    too_large,
)

__all__ = ["ProcessorWorker", "run_processors"]

log = logging.getLogger("automate.processors.worker")

_DELIVERY_ATTEMPTS = 5  # retries of a failed produce before the event is dead-lettered
_COMMIT_EVERY_S = 0.1
_MAX_INFLIGHT = 2000  # batches produced and not yet acknowledged before the loop waits for the broker


# A record produced for a consumed batch: (topic, key, the source message, the workflow's slug, its headers)
_Sent = tuple[str, str | None, Any, str | None, Any]


class _Batch:
    """The records produced for one consumed batch, its acknowledgements and the offsets it covers."""

    __slots__ = ("failures", "offsets", "pending")

    def __init__(self) -> None:
        self.pending = 0
        self.offsets: dict[tuple[str, int], int] = {}
        self.failures: list[tuple[str, bytes | None, bytes, Any]] = []  # (topic, key, value, error)

    def on_delivery(self, err: Any, msg: Any) -> None:
        self.pending -= 1
        if err is not None:
            self.failures.append((msg.topic(), msg.key(), msg.value(), err))


@dataclass(slots=True)
class _Out:
    """A record to produce and the event it comes from (dead-lettered if it cannot be delivered)."""

    topic: str
    key: str | None
    value: bytes
    source: Any  # the consumed message
    slug: str | None = None
    error: Any = None
    headers: Any = None  # (the traceparent of a request)


class ProcessorWorker:
    """One processor worker (scale out by running more with the same ``group``)."""

    def __init__(self, settings: Settings, *, group: str | None = None, batch: int = 2000,
                 metrics: ProcessorMetrics | None = None) -> None:
        self.settings = settings
        self.group = group or f"{settings.topic_prefix}-processors"
        self.batch = batch
        self.core = ProcessorCore(settings, metrics)
        self.metrics, self.records, self.router = self.core.metrics, self.core.records, self.core.router
        self.stats, self._watcher = self.core.stats, self.core.watcher
        self.consumer_lag = ConsumerLag(self.metrics.consumer_lag, self.group)
        self.assigned: set[int] = set()
        self._stop = threading.Event()
        self._solo: Any = None  # transport.solo_producer, made at the first request refused for its size
        self._inflight: collections.deque[tuple[_Batch, list[_Sent]]] = (
            collections.deque())
        self._acknowledged: dict[tuple[str, int], int] = {}  # offsets of acknowledged batches, to commit
        self._committed_at = 0.0

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        self._watcher.start()
        consumer = transport.consumer(self.settings, self.group,
                                      **{"partition.assignment.strategy": "cooperative-sticky"},
                                      **FAILOVER, **BATCHED_FETCH)
        # Room for the requests of many batches in flight (see _MAX_INFLIGHT).
        producer = transport.producer(self.settings, **{"queue.buffering.max.messages": 500_000})

        def on_assign(_consumer: Any, partitions: list[Any]) -> None:
            self.assigned |= {p.partition for p in partitions}
            log.info("partitions assigned", extra={"action": "processors.assigned",
                                                   "partitions": sorted(self.assigned)})

        def on_revoke(consumer: Any, partitions: list[Any]) -> None:
            # Commit what is done before the partitions move: the next owner starts after it.
            self._settle(consumer, producer, wait=True)
            self.assigned -= {p.partition for p in partitions}
            self.metrics.lag.clear()  # refilled for the partitions still held at the next update

        consumer.subscribe([events_topic(self.settings)], on_assign=on_assign, on_revoke=on_revoke,
                           on_lost=on_revoke)
        next_lag = 0.0
        try:
            while not self._stop.is_set():
                first = consumer.poll(0.002 if self._inflight else 0.1)
                if first is not None:
                    messages = [first, *consumer.consume(self.batch - 1, 0)]
                    self._process(producer, messages)
                producer.poll(0)  # delivery callbacks
                self._settle(consumer, producer, wait=len(self._inflight) >= _MAX_INFLIGHT)
                if time.monotonic() >= next_lag:
                    self._update_lag(consumer)
                    next_lag = time.monotonic() + 5.0
            self._settle(consumer, producer, wait=True)
        finally:
            self._watcher.stop()
            producer.flush(10)
            if self._solo is not None:
                self._solo.flush(10)
            consumer.close()

    def _process(self, producer: Any, messages: list[Any]) -> None:
        """Route a batch and produce its requests (acknowledged later, see :meth:`_settle`)."""
        route = self.router.route
        produce = producer.produce
        batch = _Batch()
        delivered = batch.on_delivery
        sent: list[_Sent] = []
        offsets = batch.offsets
        tally = self.core.tally()
        for msg in messages:
            if msg.error():
                log.warning("consumer error", extra={"action": "processors.consume_error",
                                                     "error": str(msg.error())})
                continue
            offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
            timestamp = msg.timestamp()[1]
            while True:
                try:
                    routed = route(msg.value(), msg.headers(), timestamp)
                    break
                except RecordError as exc:
                    tally.poison += 1
                    letter = self._letter(msg, exc.code, exc.message)
                    self._produce(producer, letter, batch)
                    sent.append((letter.topic, letter.key, msg, None, None))
                    routed = None
                    break
                except RegistryError as exc:  # the registry, not the record: wait for it
                    log.warning("retrying an event", extra={"action": "processors.retry", "error": str(exc)})
                    if self._stop.wait(1.0):
                        return  # nothing committed: the batch is re-delivered
            if routed is None:
                continue
            tally.routed(routed, timestamp)
            if routed.requests:
                headers = request_headers(routed)
                for request in routed.requests:
                    batch.pending += 1
                    try:
                        produce(request.topic, request.value, request.key, on_delivery=delivered,
                                headers=headers)
                    except (BufferError, KafkaException):  # the queue is full, or the record refused
                        batch.pending -= 1
                        self._produce(producer, _Out(request.topic, request.key, request.value, msg,
                                                     headers=headers), batch)
                    sent.append((request.topic, request.key, msg, request.slug, headers))
        self._inflight.append((batch, sent))
        tally.done()

    def _letter(self, msg: Any, code: str, message: str) -> _Out:
        topic, key, value = self.core.poison_letter(msg.topic(), msg.partition(), msg.offset(), msg.key(),
                                                    msg.value(), code, message)
        return _Out(topic, key, value, msg)

    @staticmethod
    def _produce(producer: Any, out: _Out, batch: _Batch) -> None:
        """Produce ``out`` for ``batch``; a record produce() refuses at once (e.g. above
        ``message.max.bytes``) becomes one of the batch's failures, as a failed delivery would."""
        batch.pending += 1
        while True:
            try:
                producer.produce(out.topic, out.value, out.key, on_delivery=batch.on_delivery,
                                 headers=out.headers)
                return
            except BufferError:  # the producer's queue is full: let it drain
                producer.poll(0.05)
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():  # the producer itself is broken: the worker must restart
                    raise
                batch.pending -= 1
                batch.failures.append((out.topic, out.key.encode() if out.key else None, out.value, err))
                return

    def _settle(self, consumer: Any, producer: Any, *, wait: bool) -> None:
        """Commit the offsets of the acknowledged batches, oldest first (``wait``: all of them, waiting
        for the broker). A batch with failed records retries them, then dead-letters what keeps failing;
        if even that fails, raise (nothing more is committed, the rest is re-delivered)."""
        if wait:
            while producer.flush(5) > 0:  # Kafka away: records wait in the producer (or time out, failed)
                log.warning("waiting for Kafka to acknowledge",
                            extra={"action": "processors.produce_wait", "queued": len(producer)})
        offsets = self._acknowledged
        while self._inflight and self._inflight[0][0].pending == 0:
            batch, sent = self._inflight.popleft()
            if batch.failures:
                self._redeliver(producer, batch, sent)
            offsets.update(batch.offsets)
        # Committed at most every _COMMIT_EVERY_S: each commit is a write to the broker's offsets log,
        # and committing every acknowledged batch cost the broker more than the batches themselves.
        if offsets and (wait or time.monotonic() - self._committed_at >= _COMMIT_EVERY_S):
            self._acknowledged, self._committed_at = {}, time.monotonic()
            try:
                consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                asynchronous=not wait)
            except KafkaException as exc:  # e.g. the partition moved: it will be re-delivered
                log.warning("commit failed", extra={"action": "processors.commit_failed", "error": str(exc)})

    def _redeliver(self, producer: Any, batch: _Batch, sent: list[_Sent]
                   ) -> None:
        sources = {(topic, key): (msg, slug, headers) for topic, key, msg, slug, headers in sent}
        pending = []
        for topic, key, value, err in batch.failures:
            text = key.decode() if key is not None else None
            # (the headers as produced: a delivery report carries none)
            msg, slug, headers = sources.get((topic, text), (None, None, None))
            pending.append(_Out(topic, text, value, msg, slug, err, headers))
        given_up: list[_Out] = []  # refused for good (e.g. too large): dead-lettered without a retry
        for attempt in range(_DELIVERY_ATTEMPTS + 1):
            given_up += [o for o in pending if refused(o.error)]
            pending = [o for o in pending if not refused(o.error)]
            if not pending or attempt == _DELIVERY_ATTEMPTS:
                break
            missing = {o.topic for o in pending if o.error.code() in (KafkaError._UNKNOWN_TOPIC,
                                                                      KafkaError.UNKNOWN_TOPIC_OR_PART)}
            if missing:
                ensure_topics(self.settings, missing, timeout=10)
            log.warning("produce failed; retrying", extra={
                "action": "processors.produce_retry", "failed": len(pending), "error": str(pending[0].error)})
            time.sleep(min(0.2 * 2 ** attempt, 3.0))
            retry = self._send_now(producer, pending)
            errors = {(topic, key): err for topic, key, _value, err in retry.failures}
            pending = [o for o in pending if (o.topic, o.key.encode() if o.key else None) in errors]
            for out in pending:
                out.error = errors[(out.topic, out.key.encode() if out.key else None)]
        given_up = self._alone(given_up)
        letters = []
        refused_ids = {id(out) for out in given_up}
        for out in [*given_up, *pending]:
            if out.topic == dlq_topic(self.settings) or out.source is None:
                raise TransportError(f"cannot write to the dead-letter topic: {out.error}",
                                     code=ErrorCodes.KAFKA_DELIVERY)
            if id(out) in refused_ids:
                typed = delivery_error(out.error, out.topic)
                code = typed.code if typed.code == ErrorCodes.KAFKA_RECORD_TOO_LARGE else (
                    ErrorCodes.REQUEST_UNDELIVERABLE)
                letters.append(self._letter(out.source, code, f"execution request for {out.slug} "
                                            f"({len(out.value)} bytes) refused: {typed.message}"))
            else:
                letters.append(self._letter(out.source, ErrorCodes.REQUEST_UNDELIVERABLE,
                                            f"execution request for {out.slug} to {out.topic} failed "
                                            f"{_DELIVERY_ATTEMPTS + 1} times: {out.error}"))
        if letters and self._send_now(producer, letters).failures:
            raise TransportError("cannot write to the dead-letter topic", code=ErrorCodes.KAFKA_DELIVERY)

    def _alone(self, outs: list[_Out]) -> list[_Out]:
        """Of the records refused for good, those still refused once sent each in a batch of its own: a
        record refused for its size may only have shared a batch larger than its topic allows (librdkafka
        does not split a refused batch)."""
        alone = [out for out in outs if too_large(out.error)]
        if not alone:
            return outs
        if self._solo is None:
            self._solo = transport.solo_producer(self.settings)
        errors = {(topic, key): err for topic, key, _value, err in self._send_now(self._solo, alone).failures}
        kept = []
        for out in outs:
            if too_large(out.error):
                error = errors.get((out.topic, out.key.encode() if out.key else None))
                if error is None:
                    continue  # delivered alone
                out.error = error
            kept.append(out)
        return kept

    def _send_now(self, producer: Any, outs: list[_Out]) -> _Batch:
        """Produce ``outs`` and wait for their acknowledgements (the slow path of failures)."""
        batch = _Batch()
        for out in outs:
            self._produce(producer, out, batch)
        while batch.pending:
            producer.poll(0.1)
        return batch

    def _update_lag(self, consumer: Any) -> None:
        try:
            for (topic, partition), lag in self.consumer_lag.update(consumer).items():
                self.metrics.lag.labels(topic, str(partition)).set(lag)
        except Exception as exc:  # metrics never stop the stream
            log.debug("lag update failed: %s", exc)


def run_processors(settings: Settings, *, group: str | None = None, metrics_port: int = 0) -> None:
    """Run one worker until SIGINT/SIGTERM, serving its metrics."""
    from automate.metrics import serve_metrics

    tracing.configure("automate-processors")
    worker = ProcessorWorker(settings, group=group)
    port = serve_metrics(settings, "automate-processors", metrics_port, registry=worker.metrics.registry)
    log.info("processors started", extra={"action": "processors.started", "metrics_port": port,
                                          "group": worker.group})
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: worker.stop())
    worker.run()
