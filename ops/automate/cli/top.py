"""``automate top``: the dashboards' figures, live from Prometheus (see :mod:`automate.top`)."""

from __future__ import annotations

import time

import click

from automate.cli.common import fail, settings_of
from automate.errors import AutomateError

__all__ = ["top"]


@click.command()
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.5),
              help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Print the figures once and exit (for scripts and logs).")
@click.pass_context
def top(ctx: click.Context, interval: float, once: bool) -> None:
    """Throughput, latency percentiles, lag, failures and dead letters, live from Prometheus: the panels of
    the Grafana dashboards (infra/grafana/dashboards) in the terminal. Ctrl-C exits."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from automate.top import figures, table

    out = Console(highlight=False)  # (the figures on stdout; errors on stderr)
    settings = settings_of(ctx)
    source = settings.prometheus_base_url

    def frame() -> Table:
        try:
            return table(figures(settings), source=source)
        except AutomateError as exc:
            fail(f"cannot read Prometheus at {source}: {exc}")

    if once:
        out.print(frame())
        return
    try:
        with Live(frame(), console=out, refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(frame())
    except KeyboardInterrupt:
        pass
