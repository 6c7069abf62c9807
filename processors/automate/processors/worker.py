"""`automate processors`: one worker of the consumer group that turns events into execution requests.

The loop takes what the consumer has buffered (up to ``batch`` records; it waits only when nothing is
there, so a lone event is not held back), routes each record (:mod:`automate.processors.router`),
produces the requests asynchronously, waits once for the whole batch to be acknowledged, then commits the
batch's offsets. A crash anywhere before the commit re-delivers the batch; the requests it produces again
carry the same execution ids, and the runtime creates each execution once. A record that cannot be read
is dead-lettered with its bytes; the stream goes on.
"""

from __future__ import annotations

import collections
import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from automate.config import Settings
from automate.processors.config import ConfigWatcher
from automate.processors.decoding import EventSchemas, Poison
from automate.processors.index import TriggerIndex
from automate.processors.metrics import ProcessorMetrics
from automate.processors.router import Router
from automate.records import Records

__all__ = ["ProcessorWorker", "run_processors"]

log = logging.getLogger("automate.processors.worker")

_DELIVERY_ATTEMPTS = 5


@dataclass(slots=True)
class _Out:
    """A record to produce and the event it comes from (dead-lettered if it cannot be delivered)."""

    topic: str
    key: str | None
    value: bytes
    source: Any  # the consumed message
    slug: str | None = None
    error: Any = None


class ProcessorWorker:
    """One processor worker (scale out by running more with the same ``group``)."""

    def __init__(self, settings: Settings, *, group: str | None = None, batch: int = 2000,
                 metrics: ProcessorMetrics | None = None) -> None:
        self.settings = settings
        self.group = group or f"{settings.topic_prefix}-processors"
        self.batch = batch
        self.metrics = metrics or ProcessorMetrics()
        self.records = Records(settings)
        self.router = Router(settings, EventSchemas(settings), self.records)
        self.stats: collections.Counter[str] = collections.Counter()
        self.assigned: set[int] = set()
        self._stop = threading.Event()
        self._watcher = ConfigWatcher(settings, self._swap)
        self._known_topics: set[str] = set()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _swap(self, index: TriggerIndex) -> None:
        """Called by the config watcher: make the workflows' topics exist, then route with ``index``."""
        from automate.topics import ensure_topics

        topics = {self.router.topic_of(t.slug) for t in index.targets} - self._known_topics
        if topics:
            try:
                ensure_topics(self.settings, topics, timeout=10)
                self._known_topics |= topics
            except Exception as exc:  # production retries and reports undeliverable requests
                log.warning("could not ensure workflow topics",
                            extra={"action": "processors.topics", "error": str(exc)[:300]})
        self.router.index = index
        self.metrics.automations.set(len(index))
        self.metrics.reloads.inc()

    def run(self) -> None:
        from confluent_kafka import Consumer, Producer

        self._watcher.start()
        events_topic = self.settings.topic("events")
        consumer = Consumer({
            "bootstrap.servers": self.settings.bootstrap_servers,
            "group.id": self.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "fetch.wait.max.ms": 20,
            "log_level": 3,
        })
        producer = Producer({
            "bootstrap.servers": self.settings.bootstrap_servers,
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
            "linger.ms": 2,
            "batch.num.messages": 10000,
            "log_level": 3,
        })

        def on_assign(_consumer: Any, partitions: list[Any]) -> None:
            self.assigned |= {p.partition for p in partitions}
            log.info("partitions assigned", extra={"action": "processors.assigned",
                                                   "partitions": sorted(self.assigned)})

        def on_revoke(_consumer: Any, partitions: list[Any]) -> None:
            self.assigned -= {p.partition for p in partitions}
            self.metrics.lag.clear()  # refilled for the partitions still held at the next update

        consumer.subscribe([events_topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
        next_lag = 0.0
        try:
            while not self._stop.is_set():
                first = consumer.poll(0.1)
                if first is not None:
                    messages = [first, *consumer.consume(self.batch - 1, 0)]
                    self._process(consumer, producer, messages)
                if time.monotonic() >= next_lag:
                    self._update_lag(consumer)
                    next_lag = time.monotonic() + 5.0
        finally:
            self._watcher.stop()
            producer.flush(10)
            consumer.close()

    def _process(self, consumer: Any, producer: Any, messages: list[Any]) -> None:
        from confluent_kafka import TopicPartition

        router = self.router
        outs: list[_Out] = []
        offsets: dict[tuple[str, int], int] = {}
        matched = unmatched = poison = rule_errors = 0
        by_workflow: collections.Counter[str] = collections.Counter()
        rule_time = self.metrics.rule_seconds.observe
        timestamps: list[int] = []
        for msg in messages:
            if msg.error():
                log.warning("consumer error", extra={"action": "processors.consume_error",
                                                     "error": str(msg.error())})
                continue
            offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
            timestamp = msg.timestamp()[1]
            while True:
                try:
                    routed = router.route(msg.value(), msg.headers(), timestamp)
                    break
                except Poison as exc:
                    poison += 1
                    outs.append(self._letter(msg, exc.code, exc.message))
                    routed = None
                    break
                except ConnectionError as exc:  # the registry, not the record: wait for it
                    log.warning("retrying an event", extra={"action": "processors.retry", "error": str(exc)})
                    if self._stop.wait(1.0):
                        return  # nothing committed: the batch is re-delivered
            if routed is None:
                continue
            timestamps.append(timestamp)
            rule_errors += routed.rule_errors
            if routed.candidates:
                rule_time(routed.rule_seconds)
            if routed.requests:
                matched += 1
                for request in routed.requests:
                    by_workflow[request.slug] += 1
                    outs.append(_Out(request.topic, request.key, request.value, msg, request.slug))
            else:
                unmatched += 1
        self._deliver(producer, outs)
        if offsets:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                            asynchronous=True)
        now_ms = time.time() * 1000
        for timestamp in timestamps:
            self.metrics.event_age.observe(max(0.0, now_ms - timestamp) / 1000)
        m = self.metrics
        if matched:
            m.events.labels("matched").inc(matched)
        if unmatched:
            m.events.labels("unmatched").inc(unmatched)
        if poison:
            m.events.labels("poison").inc(poison)
        if rule_errors:
            m.rule_errors.inc(rule_errors)
        for slug, count in by_workflow.items():
            m.requests.labels(slug).inc(count)
        self.stats.update(events=len(timestamps) + poison, matched=matched, unmatched=unmatched,
                          poison=poison, requests=sum(by_workflow.values()), rule_errors=rule_errors)

    def _letter(self, msg: Any, code: str, message: str) -> _Out:
        log.warning("poison record dead-lettered", extra={
            "action": "processors.poison", "code": code, "error": message[:300],
            "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()})
        key = msg.key()
        return _Out(self.settings.topic("dlq"), key.decode(errors="replace") if key else None,
                    self.records.encode("DeadLetter", {
                        "kind": "poison", "execution_id": None, "tenant": None, "workflow_slug": None,
                        "step_id": None, "attempt": None, "error_code": code, "error_message": message[:2000],
                        "failed_at": int(time.time() * 1000), "source_topic": msg.topic(),
                        "original": msg.value(),
                    }), msg)

    def _deliver(self, producer: Any, outs: list[_Out]) -> None:
        """Produce ``outs`` and wait until each is acknowledged. What keeps failing is dead-lettered; if even
        that fails, raise (nothing is committed and the batch is re-delivered)."""
        from confluent_kafka import KafkaError

        pending = outs
        for attempt in range(_DELIVERY_ATTEMPTS + 1):
            if not pending:
                return
            for out in pending:
                out.error = None

                def on_delivery(err: Any, _msg: Any, out: _Out = out) -> None:
                    out.error = err

                while True:
                    try:
                        producer.produce(out.topic, out.value, out.key, on_delivery=on_delivery)
                        break
                    except BufferError:
                        producer.poll(0.05)
            while producer.flush(5) > 0:  # Kafka away: records wait in the producer (or time out, failed)
                log.warning("waiting for Kafka to acknowledge", extra={"action": "processors.produce_wait",
                                                                       "queued": len(producer)})
            failed = [out for out in pending if out.error is not None]
            if not failed:
                return
            if attempt == _DELIVERY_ATTEMPTS:
                break
            missing = {o.topic for o in failed if o.error.code() == KafkaError._UNKNOWN_TOPIC
                       or o.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART}
            if missing:
                from automate.topics import ensure_topics

                ensure_topics(self.settings, missing, timeout=10)
            log.warning("produce failed; retrying", extra={
                "action": "processors.produce_retry", "failed": len(failed), "error": str(failed[0].error)})
            time.sleep(min(0.2 * 2 ** attempt, 3.0))
            pending = failed
        letters = []
        for out in failed:
            if out.topic == self.settings.topic("dlq"):
                raise RuntimeError(f"cannot write to the dead-letter topic: {out.error}")
            letters.append(self._letter(out.source, "request.undeliverable",
                                        f"execution request for {out.slug} to {out.topic} failed "
                                        f"{_DELIVERY_ATTEMPTS + 1} times: {out.error}"))
        self._deliver(producer, letters)

    def _update_lag(self, consumer: Any) -> None:
        try:
            assignment = consumer.assignment()
            if not assignment:
                return
            for tp in consumer.position(assignment):
                _low, high = consumer.get_watermark_offsets(tp, cached=True)
                if high is None or high < 0 or tp.offset < 0:
                    continue
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - tp.offset))
        except Exception as exc:  # metrics never stop the stream
            log.debug("lag update failed: %s", exc)


def run_processors(settings: Settings, *, group: str | None = None, metrics_port: int = 0) -> None:
    """Run one worker until SIGINT/SIGTERM, serving its metrics."""
    from automate_core.metrics import serve_metrics

    worker = ProcessorWorker(settings, group=group)
    port = serve_metrics(settings, "automate-processors", metrics_port, registry=worker.metrics.registry)
    log.info("processors started", extra={"action": "processors.started", "metrics_port": port,
                                          "group": worker.group})
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: worker.stop())
    worker.run()
