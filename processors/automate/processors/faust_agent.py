"""The processors as a Faust agent: ``automate processors --engine faust``, or mounted in a Faust app of
your own with :func:`mount` (your broker settings; your app's id is the consumer group).

The agent is a transport around the same core as the default engine (:mod:`automate.processors.core`):
the trigger index and its hot reload, the compiled rules, the request encoding and the poison letters.
It reads ``automate.events`` in batches (``take_events``), routes each event, sends its requests (or its
poison letter) and waits until the broker has acknowledged every record it sent before it asks Faust for
the next batch, which is when Faust acks the batch; acked offsets are committed every second.

Faust acks, and commits past, a batch whose processing raised. So a failure that is not the record's own
(Kafka refusing a request after the retries) ends the process at once, without a commit (exit code 70,
:data:`EXIT_UNDELIVERABLE`): whoever takes the partitions next routes the batch again, and the requests
made again carry the same execution ids (the runtime creates each execution once). A request above a
size limit is dead-lettered with its event (``kafka.record_too_large``), as the default engine does.

Faust (``faust-streaming``) is an optional dependency: ``pip install 'automate[faust]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Sequence
from typing import Any

from automate.config import Settings
from automate.errors import (
    AutomateError,
    ConfigurationError,
    ErrorCodes,
    RecordError,
    RegistryError,
    TransportError,
)
from automate.processors.core import ProcessorCore, request_headers
from automate.sizes import message_max_bytes
from automate.topics import dlq_topic, ensure_topics, events_topic

__all__ = ["EXIT_UNDELIVERABLE", "faust_app", "mount", "run_faust_processors"]

log = logging.getLogger("automate.processors.faust")

EXIT_UNDELIVERABLE = 70
BATCH = 500  # events routed, and their requests acknowledged, at a time
WITHIN_S = 0.02  # how long a batch waits to fill before it is routed as it is
_SEND_ATTEMPTS = 5

Out = tuple[str, bytes | None, bytes, Any, Any]  # (topic, key, value, headers, the event it is for)


def mount(app: Any, settings: Settings, *, core: ProcessorCore | None = None,
          name: str = "automate-processors") -> Any:
    """Declare the processors' agent in ``app`` (a ``faust.App``, before its worker starts); returns the
    agent. ``core`` may be shared with your own code (its ``metrics``, its ``router``)."""
    core = core or ProcessorCore(settings)
    raw = {"key_serializer": "raw", "value_serializer": "raw"}

    async def route(events: Sequence[Any]) -> None:
        tally = core.tally()
        outs: list[Out] = []
        for event in events:
            msg = event.message
            headers = list(msg.headers or ())
            timestamp = int(msg.timestamp * 1000) if msg.timestamp else 0
            while True:
                try:
                    routed = core.router.route(msg.value, headers, timestamp)
                    break
                except RecordError as exc:
                    tally.poison += 1
                    outs.append((*_letter(core, msg, exc.code, exc.message), None, event))
                    routed = None
                    break
                except RegistryError as exc:  # the registry, not the record: wait for it
                    log.warning("retrying an event", extra={"action": "processors.retry", "error": str(exc)})
                    if app.should_stop:  # nothing of the batch is acked: the next owner routes it
                        raise _Stop("stopping while the registry is away") from None
                    await asyncio.sleep(1.0)
            if routed is None:
                continue
            tally.routed(routed, timestamp)
            headers_out = _bytes_headers(request_headers(routed))
            outs += [(r.topic, r.key.encode(), r.value, headers_out, event) for r in routed.requests]
        await deliver(outs)
        tally.done()

    async def send_all(outs: list[Out]) -> list[BaseException | None]:
        """Send ``outs`` through the app's producer (a topic's send() costs several times more per record,
        and they are bytes already); each one's error, or None once the broker acknowledged it. An error
        raised by send() itself (too large for the client, metadata not found) counts as that record's."""
        send = app.producer.send
        futures: list[Any] = []
        for t, k, v, h, _event in outs:
            try:
                futures.append(await send(t, k, v, None, None, h))
            except Exception as exc:
                futures.append(_failed(exc))
        results = await asyncio.gather(*futures, return_exceptions=True)
        return [r if isinstance(r, BaseException) else None for r in results]

    async def deliver(outs: list[Out]) -> None:
        """Send ``outs``; return once the broker acknowledged each, or its event was dead-lettered: a request
        still too large when sent alone (a batch the broker refused takes its small records down with it)
        or refused for good (``request.undeliverable``). Anything else is tried again, five times."""
        pending = outs
        for attempt in range(_SEND_ATTEMPTS + 1):
            errors = await send_all(pending)
            failed = [(out, e) for out, e in zip(pending, errors, strict=True) if e is not None]
            if not failed:
                return
            letters: list[Out] = []
            pending = []
            for out, error in failed:
                if _too_large(error):
                    alone = (await send_all([out]))[0]
                    if alone is None:
                        continue
                    error = alone
                if _too_large(error) or not _retriable(error):
                    code = (ErrorCodes.KAFKA_RECORD_TOO_LARGE if _too_large(error)
                            else ErrorCodes.REQUEST_UNDELIVERABLE)
                    if out[0] == dlq_topic(settings):
                        raise TransportError(f"the dead-letter topic refused a letter: {_name(error)}",
                                             code=ErrorCodes.KAFKA_DELIVERY)
                    letters.append((*_letter(core, out[4].message, code, f"execution request to {out[0]} "
                                             f"({len(out[2])} bytes) refused: {_name(error)}"), None, out[4]))
                else:
                    pending.append(out)
            pending += letters
            if not pending:
                return
            if attempt == _SEND_ATTEMPTS:
                break
            log.warning("produce failed; retrying", extra={
                "action": "processors.produce_retry", "failed": len(pending), "error": _name(failed[0][1])})
            missing = {out[0] for out, error in failed if _unknown_topic(error)}
            if missing:
                with contextlib.suppress(Exception):  # (Kafka away: one more attempt)
                    await asyncio.get_running_loop().run_in_executor(
                        None, functools.partial(ensure_topics, settings, missing, timeout=10))
            await asyncio.sleep(min(0.2 * 2 ** attempt, 3.0))
        raise TransportError(f"{len(pending)} records not delivered after {_SEND_ATTEMPTS + 1} attempts",
                             code=ErrorCodes.KAFKA_DELIVERY)

    async def agent(stream: Any) -> None:
        loop = asyncio.get_running_loop()
        in_flight = False
        try:
            await loop.run_in_executor(None, core.start_watching)  # nothing routed before the index is read
            async for events in stream.take_events(BATCH, within=WITHIN_S):
                in_flight = True
                await route(events)
                in_flight = False
        except asyncio.CancelledError:
            if in_flight:  # Faust would ack (and commit) the batch on the way out: it is not delivered
                _exit("processors stopped in the middle of a batch")
            raise  # between batches: everything taken was delivered
        except _Stop:
            _exit("processors stopping while the registry is away")
        except BaseException as exc:
            # Never let Faust ack and commit a batch whose requests were not all delivered.
            _exit(f"{type(exc).__name__}: {exc}")
        finally:
            await loop.run_in_executor(None, core.watcher.stop)

    agent.__name__ = agent.__qualname__ = name.replace("-", "_")
    source = app.topic(events_topic(settings), **raw)
    return app.agent(source, name=name, concurrency=1)(agent)


class _Stop(AutomateError):
    """Not a failure: the app stops while an event waits for the registry."""


def _exit(why: str) -> None:
    """End the process at once, so that Faust acks and commits nothing more (exit code 70)."""
    log.critical("processors stopping without a commit", extra={
        "action": "processors.undeliverable", "error": why[:300]})
    logging.shutdown()
    os._exit(EXIT_UNDELIVERABLE)


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


def _name(error: BaseException) -> str:
    return type(error).__name__


def _errors(error: BaseException) -> list[BaseException]:
    """The error and what it wraps (Faust wraps the client's errors in ProducerSendError)."""
    found = [error]
    while found[-1].__cause__ is not None and len(found) < 5:
        found.append(found[-1].__cause__)
    return found


def _retriable(error: BaseException) -> bool:
    """Whether sending again may succeed (aiokafka's errors say; an unknown error is tried again)."""
    return all(getattr(e, "retriable", True) for e in _errors(error))


def _unknown_topic(error: BaseException) -> bool:
    return any(type(e).__name__ in ("UnknownTopicOrPartitionError", "KafkaTimeoutError")
               for e in _errors(error))


def _letter(core: ProcessorCore, msg: Any, code: str, message: str) -> tuple[str, bytes | None, bytes]:
    topic, key, value = core.poison_letter(msg.topic, msg.partition, msg.offset, msg.key, msg.value, code,
                                           message)
    return topic, key.encode() if key is not None else None, value


def _bytes_headers(headers: list[tuple[str, str | bytes | None]] | None) -> list[tuple[str, bytes]] | None:
    """Headers as the Kafka client of Faust (aiokafka) takes them: values in bytes."""
    if headers is None:
        return None
    return [(name, value.encode() if isinstance(value, str) else (value or b"")) for name, value in headers]


def _too_large(error: BaseException) -> bool:
    return any(type(e).__name__ in ("MessageSizeTooLargeError", "RecordTooLargeError")
               for e in _errors(error))


def faust_app(settings: Settings, *, group: str | None = None) -> Any:
    """A Faust app for the processors alone (``automate processors --engine faust``): the consumer group
    of the default engine (``<topic prefix>-processors``), no web server, no internal topics."""
    try:
        import faust
    except ImportError:
        raise ConfigurationError("the Faust engine needs faust-streaming: "
                                 "pip install 'automate[faust]'") from None
    if settings.kafka_security_protocol != "PLAINTEXT":
        raise ConfigurationError("the Faust engine talks PLAINTEXT to Kafka only (AUTOMATE_KAFKA_SECURITY_"
                                 f"PROTOCOL is {settings.kafka_security_protocol}): use the default engine")
    brokers = [f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")]
    return faust.App(
        group or f"{settings.topic_prefix}-processors", broker=brokers, web_enabled=False,
        topic_disable_leader=True,  # (no internal topics: nothing is declared but what we send to)
        broker_commit_interval=1.0, producer_request_timeout=30.0, producer_linger=0.01,
        broker_session_timeout=10.0, broker_heartbeat_interval=3.0, consumer_auto_offset_reset="earliest",
        # every record of ours fits (automate.sizes), as with the default engine's producers
        producer_max_request_size=message_max_bytes(settings),
        datadir=str(settings.home / "faust"))  # (Faust's own files: none of ours, but it makes the folder)


def run_faust_processors(settings: Settings, *, group: str | None = None, metrics_port: int = 0) -> None:
    """Run the Faust engine until SIGINT/SIGTERM, serving the same metrics as the default engine."""
    import faust

    from automate import tracing
    from automate.metrics import serve_metrics

    tracing.configure("automate-processors")
    app = faust_app(settings, group=group)
    core = ProcessorCore(settings)
    mount(app, settings, core=core)
    port = serve_metrics(settings, "automate-processors", metrics_port, registry=core.metrics.registry)
    log.info("processors started", extra={"action": "processors.started", "metrics_port": port,
                                          "engine": "faust", "group": app.conf.id})
    # loglevel INFO: at WARNING and above Faust sets the root logger to DEBUG (for its spinner), a seventh
    # of the CPU in its profile.
    # (the project's logging as set up by the CLI: Faust's would replace its handlers, and the masking of
    # secrets in them)
    worker = faust.Worker(app, loglevel="INFO", override_logging=False, redirect_stdouts=False)
    worker.execute_from_commandline()
