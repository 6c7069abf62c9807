"""The Grafana dashboards, written from Python: each panel's PromQL is stated once, here, and the JSON under
``infra/grafana/dashboards/`` is generated from it (``python -m automate.dashboards``; a test fails when
the files and this module differ, and another runs every panel's queries against the real Prometheus).

Written by hand rather than with a dashboard library: the panels use one type (time series) and a handful
of fields of Grafana's dashboard JSON model (schema version 39), which this module states in full; a
library (grafanalib, grafana-foundation-sdk) would add a dependency for less than a hundred lines.
The metrics are those of ``docs/observability.md``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = ["DASHBOARDS", "Dashboard", "Panel", "Target", "directory", "listing", "render", "write_all"]

SCHEMA_VERSION: Final = 39
DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}
WINDOW: Final = "1m"  # the range of every rate(): 12 scrapes at the local Prometheus's 5 s


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str  # a Grafana unit id: ops (per second), s, short, bytes
    targets: tuple[Target, ...]
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def _quantiles(metric: str, by: str, what: str) -> tuple[Target, ...]:
    """p50, p95 and p99 of histogram ``metric`` by the labels ``by``."""
    return tuple(Target(f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket[{WINDOW}])))",
                        f"p{int(q * 100)} {what}".strip()) for q in (0.5, 0.95, 0.99))


def _rate(metric: str, by: str) -> str:
    return f"sum by ({by}) (rate({metric}[{WINDOW}]))"


PIPELINE = Dashboard("automate-pipeline", "Automate: pipeline", "Throughput and latency of the pipeline, "
                     "from the outbox to the steps.", (
    Panel("Events in", "ops", (
        Target(f"sum(rate(automate_relay_published_total[{WINDOW}]))", "published by the relay"),
        Target(_rate("automate_processor_events_total", "outcome"), "processed: {{outcome}}"))),
    Panel("Executions requested, by workflow", "ops", (
        Target(_rate("automate_processor_requests_total", "workflow"), "{{workflow}}"),)),
    Panel("Executions started and ended, by workflow", "ops", (
        Target(_rate("automate_runtime_executions_started_total", "workflow"), "started {{workflow}}"),
        Target(_rate("automate_runtime_executions_ended_total", "workflow, status"),
               "{{status}} {{workflow}}"))),
    Panel("Emit to execution request (processors)", "s",
          _quantiles("automate_processor_event_age_seconds", "job", ""),
          "From the event's emit (its Kafka timestamp) to its requests acknowledged by Kafka."),
    Panel("Request to first step (runtime)", "s",
          _quantiles("automate_runtime_request_wait_seconds", "workflow", "{{workflow}}"),
          "From the processors' request to a runtime worker taking it up and starting its first step."),
    Panel("Step durations", "s", _quantiles("automate_runtime_step_seconds", "workflow", "{{workflow}}")),
))

FAILURES = Dashboard("automate-failures", "Automate: failures", "What failed, what is retried, what was "
                     "dead-lettered.", (
    Panel("Executions failed, by workflow", "ops", (
        Target(f'sum by (workflow) (rate(automate_runtime_executions_ended_total{{status="FAILED"}}'
               f'[{WINDOW}]))', "{{workflow}}"),)),
    Panel("Step attempts retried, by tier", "ops", (
        Target(_rate("automate_runtime_deferred_total", "tier, reason"), "{{reason}} {{tier}}"),)),
    Panel("Retry tiers: released and held", "short", (
        Target(f"sum by (tier) (increase(automate_retry_released_total[{WINDOW}]))", "released {{tier}}"),
        Target("sum by (tier) (automate_retry_held)", "held {{tier}}"))),
    Panel("Dead letters, by source and code", "ops", (
        Target(_rate("automate_dead_letters_total", "source, code"), "{{source}}: {{code}}"),)),
    Panel("Step attempts failed, by workflow and step", "ops", (
        Target('sum by (workflow, step) (rate(automate_runtime_step_seconds_count'
               f'{{status=~"FAILED|RETRYING"}}[{WINDOW}]))', "{{workflow}}/{{step}}"),)),
))

HEALTH = Dashboard("automate-health", "Automate: lag and outbox", "Consumer lag, the outbox's backlog and "
                   "the workers scraped.", (
    Panel("Consumer lag, by group and topic", "short", (
        Target("sum by (group, topic) (automate_consumer_lag)", "{{group}} {{topic}}"),)),
    Panel("Outbox backlog", "short", (Target("sum(automate_outbox_backlog)", "rows not yet published"),)),
    Panel("Oldest outbox row", "s", (Target("max(automate_outbox_oldest_seconds)", "age"),)),
    Panel("Workers up", "short", (Target('count by (job) (up{job=~"automate-.*"} == 1)', "{{job}}"),)),
    Panel("Messages in flight (runtime)", "short", (
        Target("sum by (job) (automate_runtime_in_flight)", "in flight"),)),
))

DASHBOARDS: Final = (PIPELINE, FAILURES, HEALTH)


def render(dashboard: Dashboard) -> dict[str, Any]:
    """Grafana's dashboard JSON model of ``dashboard``: panels two to a row, a datasource variable."""
    panels = []
    for i, panel in enumerate(dashboard.panels):
        panels.append({
            "id": i + 1, "type": "timeseries", "title": panel.title, "description": panel.description,
            "datasource": DATASOURCE,
            "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
            "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
            "targets": [{"refId": chr(ord("A") + n), "datasource": DATASOURCE, "expr": t.expr,
                         "legendFormat": t.legend} for n, t in enumerate(panel.targets)],
        })
    return {
        "uid": dashboard.uid, "title": dashboard.title, "description": dashboard.description,
        "tags": ["automate"], "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
        "time": {"from": "now-15m", "to": "now"}, "refresh": "10s",
        "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource",
                                 "query": "prometheus", "current": {}}]},
        "panels": panels,
    }


def listing() -> str:
    """The panels and their queries as Markdown (``docs/observability.md`` holds it, checked by a test)."""
    lines = []
    for dashboard in DASHBOARDS:
        lines += [f"### {dashboard.title} (`{dashboard.uid}.json`)", "", dashboard.description, "",
                  "| panel | unit | legend | PromQL |", "|---|---|---|---|"]
        for panel in dashboard.panels:
            for n, target in enumerate(panel.targets):
                expr = target.expr.replace("|", "\\|")
                lines.append(f"| {panel.title if n == 0 else ''} | {panel.unit if n == 0 else ''} | "
                             f"`{target.legend}` | `{expr}` |")
        lines.append("")
    return "\n".join(lines)


def directory() -> Path:
    """Where the dashboards are versioned: ``infra/grafana/dashboards`` of the checkout."""
    return Path(__file__).resolve().parents[2] / "infra" / "grafana" / "dashboards"


def text_of(dashboard: Dashboard) -> str:
    return json.dumps(render(dashboard), indent=2, ensure_ascii=False) + "\n"


def write_all(target: Path | None = None) -> list[Path]:
    """Write every dashboard's JSON into ``target`` (default :func:`directory`); returns the files."""
    out = target or directory()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for dashboard in DASHBOARDS:
        path = out / f"{dashboard.uid}.json"
        path.write_text(text_of(dashboard))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print(path)
