"""``automate demo``: a realistic scenario on the local stack, every worker a process of its own
(see :mod:`automate.demo`)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any, Final

import click

from automate.cli.common import fail, settings_of
from automate.config import project_root
from automate.errors import AutomateError

__all__ = ["demo"]

DEFAULT_EVENTS: Final = 3000
DEFAULT_RATE: Final = 200.0


def _default_workflows() -> Path | None:
    root = project_root()
    return root / "examples" / "demo" if root is not None else None


@click.command()
@click.option("--events", "count", default=DEFAULT_EVENTS, show_default=True,
              type=click.IntRange(1, 1_000_000), help="How many events to emit.")
@click.option("--rate", default=DEFAULT_RATE, show_default=True, type=click.FloatRange(0),
              help="Events per second to emit (0: as fast as possible).")
@click.option("--seed", default=7, show_default=True,
              help="Seed of the generated events (same seed, same events).")
@click.option("--timeout", "timeout_s", default=120.0, show_default=True, type=click.FloatRange(1),
              help="Seconds to wait, after the last event, for every execution to finish.")
@click.option("--processors", "processor_count", default=1, show_default=True, type=click.IntRange(1, 16),
              help="Processor worker processes.")
@click.option("--runtimes", "runtime_count", default=2, show_default=True, type=click.IntRange(1, 16),
              help="Runtime worker processes.")
@click.option("--workflows", "workflow_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The scenario's workflow files [default: examples/demo of the checkout].")
@click.pass_context
def demo(ctx: click.Context, count: int, rate: float, seed: int, timeout_s: float, processor_count: int,
         runtime_count: int, workflow_dir: Path | None) -> None:
    """Run a realistic scenario on the local stack and check that everything happened as it should.

    \b
    1. Applies the workflows of examples/demo (tenant `demo`):
       demo-big-orders  order.created with amount >= 100: fan-out/fan-in, a charge that times out
                        once and succeeds on retry (1 s retry tier), and for the ~2% of orders in
                        currency XTS a last step that exhausts its retries and ends in the DLQ;
       demo-payments    payment.received of an order and (amount > 1000 or without amount);
       demo-welcome     user.signed_up (glob trigger), with a `when` branch;
       demo-fulfilment  order.created with amount >= 1000: an invoice to S3 and an e-mail receipt
                        through the aws and email connectors, against a local S3 (moto) and SMTP
                        server (STARTTLS, login) the demo starts, credentials in the secret store.
    2. Starts every worker as its own process: processors, runtime workers, the retry worker (and
       the relay when AUTOMATE_PUBLISHER=relay); their logs go to <AUTOMATE_HOME>/logs/demo.
    3. Sends one warm-up event through the pipeline, then emits --events events (order.created,
       payment.received, user.signed_up) at --rate with emit_event.
    4. Shows the progress live, waits until every execution the rules call for has finished, and
       prints a summary: events, executions per workflow and status, retries per tier, dead letters,
       throughput, and latency percentiles from emit to the first step and to the execution's end.

    Exits 0 when every execution ended as the workflows say it must (also the retry and dead-letter
    counts), 1 otherwise, 130 on Ctrl-C. Needs `automate up` and `automate migrate` first; stops its
    workers on exit.
    """
    from automate.demo import load_workflows, preflight, run_demo

    settings = settings_of(ctx)
    directory = workflow_dir or _default_workflows()
    if directory is None:
        fail("no examples/demo folder next to this installation; pass --workflows DIR")
    try:
        specs = load_workflows(directory)
        tenants = {spec.tenant or settings.tenant for spec in specs}
        if len(tenants) != 1:
            fail(f"the demo's workflows must share one tenant, not {', '.join(sorted(tenants))}")
        preflight(settings)
        signal.signal(signal.SIGTERM, _terminate)  # stop the workers as on Ctrl-C
        code = run_demo(settings, specs, tenants.pop(), count=count, rate=rate, seed=seed,
                        timeout_s=timeout_s,
                        counts={"relay": 1, "processors": processor_count, "runtime": runtime_count,
                                "retry-worker": 1})
    except AutomateError as exc:
        fail(str(exc))
    sys.exit(code)


def _terminate(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt
