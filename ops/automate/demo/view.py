"""What the demo shows while it runs: a progress bar and a table per workflow, refreshed live."""

from __future__ import annotations

import math
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from rich.console import Console, Group, RenderableType
from rich.progress import Progress
from rich.table import Table

from automate.demo.expectations import Expectations

__all__ = ["TERMINAL", "View", "console", "make_console", "ms", "render"]

TERMINAL: Final = ("SUCCESS", "FAILED", "CANCELED")


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f} ms"


def make_console(stderr: bool) -> Console:
    """A console of the demo's: 120 columns when writing to a file or a pipe (a CI log), not rich's 80."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, highlight=False, width=120 if wide else None)


console = make_console(stderr=True)  # progress and messages; the summary goes to stdout


@dataclass
class View:
    """What the live display shows."""

    phase: str = "starting"
    emitted: int = 0
    events: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)
    expected_total: int = 0


def render(view: View, progress: Progress, tasks: dict[str, Any],
           expectations: Expectations) -> RenderableType:
    finished = sum(sum(c[s] for s in TERMINAL) for c in view.counts.values())
    progress.update(tasks["emitted"], completed=view.emitted, total=view.events)
    progress.update(tasks["finished"], completed=finished, total=max(view.expected_total, 1))
    wide = console.width >= 110  # the trigger column only where it fits
    table = Table("workflow", *(["trigger"] if wide else []), "expected", "created", "running", "succeeded",
                  "failed", "retries", title=f"[bold]{view.phase}[/]", title_justify="left")
    for slug in expectations.slugs:
        c = view.counts.get(slug, Counter())
        created = sum(n for status, n in c.items() if status != "MISSING")
        trigger = [expectations.describe_trigger(slug)] if wide else []
        table.add_row(slug, *trigger, str(view.expected[slug]), str(created),
                      str(c["RUNNING"] + c["PENDING"]), f"[green]{c['SUCCESS']}[/]", f"[red]{c['FAILED']}[/]",
                      str(view.retries[slug]))
    return Group(progress, table)
