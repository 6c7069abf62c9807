"""The built-in model table: families found through dated and regional names, prices with overrides."""

from __future__ import annotations

import pytest

from automate_llm.models import MODELS, cost_usd, lookup


@pytest.mark.parametrize(("model", "family"), [
    ("gpt-4o", "gpt-4o"), ("gpt-4o-2024-08-06", "gpt-4o"), ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4-turbo-preview", "gpt-4-turbo"), ("gpt-4", "gpt-4"),
    ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
    ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
    ("amazon.nova-lite-v1:0", "nova-lite"),
])
def test_families(model: str, family: str) -> None:
    assert lookup(model) == MODELS[family]


@pytest.mark.parametrize("model", ["gpt-4.5-preview", "llama3", "my-local-model", "gpt-4o1"])
def test_unknown_models_are_not_mistaken_for_a_family(model: str) -> None:
    assert lookup(model) is None


def test_cost_at_list_price_and_overridden() -> None:
    assert cost_usd("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)
    assert cost_usd("gpt-4o", 1000, 0, {"gpt-4o": (1.0, 1.0)}) == pytest.approx(0.001)
    assert cost_usd("my-local-model", 10**6, 10**6) == 0.0
    assert cost_usd("my-local-model", 10**6, 0, {"my-local-model": (0.5, 1.5)}) == pytest.approx(0.5)
