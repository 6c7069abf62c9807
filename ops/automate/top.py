"""``automate top``: the dashboards' figures in a terminal, for operators without Grafana.

Every panel of :mod:`automate.dashboards` is read from Prometheus (its queries, as Grafana would run them,
at this instant) and shown as a table row per series: the panel, the series' legend, its value in the
panel's unit. No second copy of a query: a panel added to the dashboards appears here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from automate.config import Settings
from automate.dashboards import DASHBOARDS, Dashboard, Panel
from automate.errors import StackError
from automate.stack.base import http_json

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["Row", "figures", "format_value", "table"]

MAX_SERIES = 12  # per query: the largest first (a panel by workflow may have many)


@dataclass(frozen=True)
class Row:
    dashboard: str
    panel: str
    series: str
    value: float
    unit: str


def _legend(template: str, labels: dict[str, str]) -> str:
    text = template
    for name, value in labels.items():
        text = text.replace("{{" + name + "}}", value)
    return text.strip() or "value"


def _query(settings: Settings, promql: str) -> list[dict[str, Any]]:
    answer = http_json("GET", f"{settings.prometheus_base_url}/api/v1/query?query={quote(promql)}",
                       timeout=5)
    if answer.get("status") != "success":
        raise StackError(f"Prometheus refused a query: {answer.get('error', answer)}")
    return list(answer["data"]["result"])


def _rows(settings: Settings, dashboard: Dashboard, panel: Panel) -> list[Row]:
    rows = []
    for target in panel.targets:
        found = []
        for series in _query(settings, target.expr):
            value = float(series["value"][1])
            if math.isfinite(value):
                found.append(Row(dashboard.title, panel.title, _legend(target.legend, series["metric"]),
                                 value, panel.unit))
        rows.extend(sorted(found, key=lambda r: -r.value)[:MAX_SERIES])
    return rows


def figures(settings: Settings) -> list[Row]:
    """Every panel's series with a value now (a panel without any is left out).

    Raises:
        StackError: Prometheus cannot be reached or refused a query.
    """
    return [row for dashboard in DASHBOARDS for panel in dashboard.panels
            for row in _rows(settings, dashboard, panel)]


def format_value(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"
    if unit == "ops":
        return f"{value:,.1f}/s"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def table(rows: list[Row], *, source: str) -> Table:
    """A rich table of ``rows``, grouped by dashboard and panel."""
    from rich.table import Table

    out = Table("panel", "series", "value", title=f"Automate, from {source}", title_justify="left")
    last = None
    for row in rows:
        where = (row.dashboard, row.panel)
        if where != last and last is not None:
            out.add_section()
        out.add_row(row.panel if where != last else "", row.series, format_value(row.value, row.unit))
        last = where
    if not rows:
        out.add_row("(no figures yet: are the workers running and scraped?)", "", "")
    return out
