"""``automate emit``, ``automate relay``, ``automate publisher-watch`` and ``automate schemas``: the producer
side for operators."""

from __future__ import annotations

import json
import signal
import threading
import time

import click

from automate import tracing
from automate.cli.common import METRICS_PORT, console, fail, settings_of, setup_logging
from automate.errors import AutomateError

__all__ = ["emit", "publisher_watch", "relay", "schemas"]


@click.command()
@click.argument("event_type", metavar="TYPE")
@click.option("--payload", "payload_json", required=True, help="The payload, a JSON object.")
@click.option("--dedupe-key", default=None, help="Emitting again with this key does nothing.")
@click.option("--tenant", default=None, help="Tenant (default: AUTOMATE_TENANT).")
@click.option("--key", default=None, help="Kafka record key (default: the dedupe key, else the event id).")
@click.pass_context
def emit(ctx: click.Context, event_type: str, payload_json: str, dedupe_key: str | None,
         tenant: str | None, key: str | None) -> None:
    """Emit one event of TYPE through the outbox; prints its id."""
    from automate.events import emit_event

    try:
        payload = json.loads(payload_json)
    except json.JSONDecodeError as exc:
        fail(f"--payload is not JSON: {exc}")
    try:
        event_id = emit_event(event_type, payload, dedupe_key, tenant=tenant, key=key,
                              settings=settings_of(ctx))
    except AutomateError as exc:
        fail(str(exc))
    click.echo(event_id)


@click.command()
@click.option("--batch-size", default=5000, show_default=True, help="Rows claimed per batch.")
@click.option("--lease", "lease_seconds", default=30.0, show_default=True,
              help="Seconds the relay may hold a claimed batch before Postgres cuts it off and the rows "
                   "go back to pending (half of it is the delivery timeout). Rows others left claimed "
                   "under an expired lease are freed by the relay's reaper.")
@click.option("--poll-interval", default=1.0, show_default=True,
              help="Seconds between polls when no NOTIFY arrives.")
@click.option("--once", is_flag=True, help="Publish the backlog, then exit.")
@METRICS_PORT
@click.pass_context
def relay(ctx: click.Context, batch_size: int, lease_seconds: float, poll_interval: float,
          once: bool, metrics_port: int) -> None:
    """Publish the outbox to Kafka (the built-in relay, for AUTOMATE_PUBLISHER=relay).

    Several relays may run side by side. Stops cleanly on SIGINT/SIGTERM.
    """
    from automate_core.outbox.metrics import serve_relay_metrics
    from automate_core.outbox.relay import Relay

    settings = settings_of(ctx)
    if settings.publisher != "relay" and not once:
        fail("AUTOMATE_PUBLISHER is debezium: Debezium publishes this outbox; set AUTOMATE_PUBLISHER=relay "
             "(and run `automate migrate` to remove the connector) to use the relay instead")
    setup_logging(settings_of(ctx).log_level)
    tracing.configure("automate-relay")
    worker = Relay(settings, batch_size=batch_size, lease_seconds=lease_seconds, poll_interval=poll_interval)
    if once:
        began = time.monotonic()
        count = worker.drain()
        console.print(f"published {count} events in {time.monotonic() - began:.2f}s")
        if worker.stats.failed:
            console.print(f"{worker.stats.failed} rows refused by Kafka for good, marked failed "
                          "(automate_outbox.status, last_error; docs/outbox.md)")
        return
    serve_relay_metrics(worker, settings, metrics_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker.run(stop)
    console.print(f"relay stopped after publishing {worker.stats.published} events")


@click.command("publisher-watch")
@METRICS_PORT
@click.pass_context
def publisher_watch(ctx: click.Context, metrics_port: int) -> None:
    """Keep the Debezium publisher publishing (run one or more wherever Debezium publishes; one acts).

    Every AUTOMATE_PUBLISHER_PROBE_INTERVAL_S (5) it re-registers the connector when Connect lost it,
    restarts it when it FAILED, and writes a probe through the outbox's slot: a probe still unread after
    AUTOMATE_PUBLISHER_STALL_AFTER_S (120), the slot unmoved meanwhile, restarts the task. Restarts are
    logged and counted (automate_publisher_restarts_total). A PAUSED connector is left alone. Stops on
    SIGINT/SIGTERM.
    """
    from automate.publisher_watch import run_publisher_watch

    settings = settings_of(ctx)
    if settings.publisher != "debezium":
        fail("AUTOMATE_PUBLISHER is relay: there is no Debezium connector to watch (`automate status` shows "
             "the relay's backlog)")
    setup_logging(settings.log_level)
    run_publisher_watch(settings, metrics_port)


@click.group()
def schemas() -> None:
    """The Avro contracts in schemas/: register them, check their compatibility."""


@schemas.command("register")
@click.pass_context
def schemas_register(ctx: click.Context) -> None:
    """Register every contract in the registry and cache the ids in Postgres (idempotent)."""
    from automate.db import connect
    from automate.registry import register_contracts

    settings = settings_of(ctx)
    try:
        with connect(settings) as conn:
            done = register_contracts(settings, conn)
    except AutomateError as exc:
        fail(str(exc))
    for r in done:
        console.print(f"{r.subject:<45} version {r.version:<3} id {r.schema_id}")


@schemas.command("check")
@click.pass_context
def schemas_check(ctx: click.Context) -> None:
    """Fail when a contract would break BACKWARD compatibility with its registered version."""
    from automate.registry import check_contracts

    settings = settings_of(ctx)
    try:
        bad = check_contracts(settings)
    except AutomateError as exc:
        fail(str(exc))
    if bad:
        for b in bad:
            console.print(f"[red]incompatible[/] {b.subject}: {b.reason}", soft_wrap=True)
        fail(f"{len(bad)} contract(s) break BACKWARD compatibility")
    console.print("[green]all contracts are BACKWARD compatible with their registered versions[/]")
