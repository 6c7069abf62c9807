"""The processors' Prometheus metrics (one registry per worker, so several workers can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from automate.metrics import consumer_lag_gauge, dead_letters_counter

__all__ = ["ProcessorMetrics"]


class ProcessorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter("automate_processor_events", "Events consumed, by outcome "
                              "(matched: at least one request; unmatched; poison: dead-lettered).",
                              ["outcome"], registry=r)
        self.requests = Counter("automate_processor_requests", "Execution requests produced, by workflow "
                                "(the fan-out of events to workflows).", ["workflow"], registry=r)
        self.rule_seconds = Histogram("automate_processor_rule_seconds", "Time evaluating the candidate "
                                      "rules of one event.", registry=r,
                                      buckets=(1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 0.1))
        self.rule_errors = Counter("automate_processor_rule_errors", "Rule evaluations that raised (the "
                                   "trigger does not match).", registry=r)
        self.rule_limits = Counter("automate_processor_rule_limits", "Rule evaluations stopped by a limit "
                                   "of the rule engine (also counted as rule errors), by workflow.",
                                   ["workflow"], registry=r)
        self.event_age = Histogram("automate_processor_event_age_seconds", "From the event's Kafka "
                                   "timestamp (its emit time) to its requests being acknowledged.",
                                   registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                                        10, 30, 60))
        self.consumer_lag = consumer_lag_gauge(r)
        self.dead_letters = dead_letters_counter(r)
        self.lag = Gauge("automate_processor_lag", "Events not yet consumed, by partition.",
                         ["topic", "partition"], registry=r)
        self.automations = Gauge("automate_processor_automations", "Automations in the trigger index.",
                                 registry=r)
        self.reloads = Counter("automate_processor_config_reloads", "Trigger index rebuilds.", registry=r)
