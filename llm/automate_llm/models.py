"""What Automate knows of well-known models without asking: context windows and list prices.

The table is a snapshot (``PRICES_AS_OF``); operators override or add prices with ``settings.llm_prices``
(USD per million tokens, input and output). A model outside the table has no context check before the
call (the provider's own 400 still becomes LlmContextExceeded) and costs 0 unless priced in the settings.

A dated or regional name finds its family: ``gpt-4o-2024-08-06`` is ``gpt-4o``; Bedrock's
``us.anthropic.claude-3-5-haiku-20241022-v1:0`` is ``claude-3-5-haiku``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["MODELS", "PRICES_AS_OF", "ModelInfo", "cost_usd", "label", "lookup", "price"]

PRICES_AS_OF = "2025-06-01"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """A model family: its context window (tokens, prompt and answer together) and list prices (USD per
    million input and output tokens)."""

    context: int
    input_usd: float
    output_usd: float


MODELS: Mapping[str, ModelInfo] = {
    # OpenAI
    "gpt-4": ModelInfo(context=8_192, input_usd=30.0, output_usd=60.0),
    "gpt-4-turbo": ModelInfo(context=128_000, input_usd=10.0, output_usd=30.0),
    "gpt-4o": ModelInfo(context=128_000, input_usd=2.5, output_usd=10.0),
    "gpt-4o-mini": ModelInfo(context=128_000, input_usd=0.15, output_usd=0.6),
    "gpt-4.1": ModelInfo(context=1_047_576, input_usd=2.0, output_usd=8.0),
    "gpt-4.1-mini": ModelInfo(context=1_047_576, input_usd=0.4, output_usd=1.6),
    "gpt-4.1-nano": ModelInfo(context=1_047_576, input_usd=0.1, output_usd=0.4),
    "gpt-3.5-turbo": ModelInfo(context=16_385, input_usd=0.5, output_usd=1.5),
    "o3-mini": ModelInfo(context=200_000, input_usd=1.1, output_usd=4.4),
    # Anthropic (also on Bedrock)
    "claude-3-haiku": ModelInfo(context=200_000, input_usd=0.25, output_usd=1.25),
    "claude-3-5-haiku": ModelInfo(context=200_000, input_usd=0.8, output_usd=4.0),
    "claude-3-5-sonnet": ModelInfo(context=200_000, input_usd=3.0, output_usd=15.0),
    "claude-3-7-sonnet": ModelInfo(context=200_000, input_usd=3.0, output_usd=15.0),
    "claude-sonnet-4": ModelInfo(context=200_000, input_usd=3.0, output_usd=15.0),
    "claude-opus-4": ModelInfo(context=200_000, input_usd=15.0, output_usd=75.0),
    # Amazon (Bedrock)
    "nova-micro": ModelInfo(context=128_000, input_usd=0.035, output_usd=0.14),
    "nova-lite": ModelInfo(context=300_000, input_usd=0.06, output_usd=0.24),
    "nova-pro": ModelInfo(context=300_000, input_usd=0.8, output_usd=3.2),
}

# Bedrock's names: an optional cross-region prefix, then the vendor.
_BEDROCK_PREFIX = re.compile(r"^(?:(?:us|eu|apac|us-gov|global)\.)?"
                             r"(?:anthropic|amazon|meta|mistral|cohere)\.")


def _family(model: str) -> str | None:
    name = _BEDROCK_PREFIX.sub("", model.strip().lower())
    best: str | None = None
    for family in MODELS:
        # the family itself, or the family followed by a dash (a date, a version): gpt-4.5 is not gpt-4
        if (name == family or name.startswith(family + "-")) and (best is None or len(family) > len(best)):
            best = family
    return best


def lookup(model: str) -> ModelInfo | None:
    """The known facts of ``model`` (by its family), or None."""
    family = _family(model)
    return None if family is None else MODELS[family]


def price(model: str, overrides: Mapping[str, tuple[float, float]] | None = None
          ) -> tuple[float, float] | None:
    """USD per million input and output tokens: ``overrides`` (by exact model name) first, then the
    table's family; None for a model priced nowhere."""
    found = (overrides or {}).get(model)
    if found is None:
        info = lookup(model)
        found = None if info is None else (info.input_usd, info.output_usd)
    return found


def cost_usd(model: str, input_tokens: int, output_tokens: int,
             overrides: Mapping[str, tuple[float, float]] | None = None) -> float:
    """What the tokens cost at list price (:func:`price`); 0.0 for a model priced nowhere."""
    found = price(model, overrides)
    if found is None:
        return 0.0
    return (input_tokens * found[0] + output_tokens * found[1]) / 1_000_000


def label(model: str, overrides: Mapping[str, tuple[float, float]] | None = None) -> str:
    """The ``model`` label of the metrics: the exact name when ``settings.llm_prices`` names it, the
    family when the built-in table knows it (``gpt-4o-2024-08-06`` -> ``gpt-4o``), else ``other``: a
    caller's free text never becomes a label (bounded cardinality)."""
    if model in (overrides or {}):
        return model
    return _family(model) or "other"
