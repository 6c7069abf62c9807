"""The LLM calls' Prometheus metrics: tokens, cost, requests by outcome, latency.

Labels are the provider, the model (configured by operators, so a bounded set) and the outcome (``ok``,
``cached`` or an error code): never a tenant's text, never a key. The metrics live in the process's
default registry (made on first use), where a worker's ``/metrics`` exporter finds them.
"""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

__all__ = ["LlmMetrics", "llm_metrics"]

_lock = threading.Lock()
_default: LlmMetrics | None = None


class LlmMetrics:
    """The metrics, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.tokens = Counter("automate_llm_tokens", "Tokens the providers counted, by kind (input: the "
                              "prompt; output: the answer).", ["provider", "model", "kind"],
                              registry=registry)
        self.cost = Counter("automate_llm_cost_usd", "What the calls cost at list price (automate_llm.models "
                            "and settings.llm_prices), in US dollars.", ["provider", "model"],
                            registry=registry)
        self.requests = Counter("automate_llm_requests", "Calls by outcome: ok, cached (answered from the "
                                "response cache) or the error's code.", ["provider", "model", "outcome"],
                                registry=registry)
        self.latency = Histogram("automate_llm_request_seconds", "From sending a call to its whole answer "
                                 "(retries included).", ["provider", "model"], registry=registry,
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))

    def record(self, *, provider: str, model: str, outcome: str | None, input_tokens: int = 0,
               output_tokens: int = 0, cost_usd: float = 0.0, seconds: float | None = None) -> None:
        """One call's accounting (``outcome`` None: its tokens and cost only, the outcome comes later)."""
        if outcome is not None:
            self.requests.labels(provider, model, outcome).inc()
        if input_tokens:
            self.tokens.labels(provider, model, "input").inc(input_tokens)
        if output_tokens:
            self.tokens.labels(provider, model, "output").inc(output_tokens)
        if cost_usd:
            self.cost.labels(provider, model).inc(cost_usd)
        if seconds is not None:
            self.latency.labels(provider, model).observe(seconds)


def llm_metrics() -> LlmMetrics:
    """The process's LLM metrics, in prometheus_client's default registry."""
    global _default
    with _lock:
        if _default is None:
            _default = LlmMetrics(REGISTRY)
        return _default
