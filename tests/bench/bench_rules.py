"""Benchmark: compiled JSONLogic rules (automate.rules) against json-logic-qubit, side by side.

Run from the repository root::

    python tests/bench/bench_rules.py [--contexts 100000] [--seed 7] [--repeat 3]

Eight rules in the style of the seed's examples (amounts, statuses, priorities, ``in``, nested
``and``/``or``, ``missing``, ``if``, an iterator) are evaluated over the same generated contexts by both
engines. Before timing, both engines must give the same truthiness on the first 2,000 contexts of every
rule, so the numbers compare equal work. Each engine makes ``--repeat`` interleaved passes per rule and
the best pass counts (the machine's noise hits both alike). Prints a table and one JSON line with both
rates, the speedup and the compile time per rule. Not part of the pytest run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

# Runnable without the install: the engine (rules/) and the error tree it raises (core/).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "rules"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core"))

from json_logic import jsonLogic

from automate.rules import RuleEngine

RULES: dict[str, Any] = {
    "amount_threshold": {">=": [{"var": "amount"}, 100]},
    "active_and_big_or_high": {
        "and": [
            {"==": [{"var": "status"}, "active"]},
            {"or": [{">": [{"var": "amount"}, 1000]}, {"==": [{"var": "priority"}, "high"]}]},
        ]
    },
    "status_in_list": {"in": [{"var": "status"}, ["pending", "active", "review"]]},
    "amount_band": {
        "if": [
            {">": [{"var": "amount"}, 5000]},
            "large",
            {">": [{"var": "amount"}, 500]},
            "medium",
            "small",
        ]
    },
    "required_fields_present": {"!": {"missing": ["order_id", "customer.email"]}},
    "between_and_not_blocked": {
        "and": [
            {"<": [10, {"var": "amount"}, 5000]},
            {"!=": [{"var": "customer.tier"}, "blocked"]},
        ]
    },
    "gold_or_loyal_vip": {
        "or": [
            {"==": [{"var": "customer.tier"}, "gold"]},
            {"and": [{">=": [{"var": "order_count"}, 5]}, {"in": ["vip", {"var": "tags"}]}]},
        ]
    },
    "any_expensive_item": {"some": [{"var": "items"}, {">": [{"var": "price"}, 100]}]},
}

STATUSES = ["active", "pending", "review", "closed", "cancelled"]
PRIORITIES = ["low", "normal", "high"]
TIERS = ["bronze", "silver", "gold", "blocked"]
TAGS = ["vip", "new", "wholesale", "b2b", "promo"]


def make_contexts(count: int, seed: int) -> list[dict[str, Any]]:
    """Order-like event payloads with some fields missing, as real events have."""
    generator = random.Random(seed)
    contexts: list[dict[str, Any]] = []
    for index in range(count):
        context: dict[str, Any] = {
            "amount": generator.choice(
                [generator.randint(0, 10_000), round(generator.uniform(0, 10_000), 2)]
            ),
            "status": generator.choice(STATUSES),
            "priority": generator.choice(PRIORITIES),
            "order_count": generator.randint(0, 20),
            "tags": generator.sample(TAGS, generator.randint(0, 3)),
            "items": [
                {"sku": f"SKU-{n}", "price": generator.randint(1, 150)}
                for n in range(generator.randint(1, 4))
            ],
            "customer": {"tier": generator.choice(TIERS)},
        }
        if generator.random() < 0.9:
            context["order_id"] = f"ORD-{index}"
        if generator.random() < 0.8:
            context["customer"]["email"] = f"user{index}@example.com"
        contexts.append(context)
    return contexts


def rate(function: Callable[[Any], Any], contexts: list[dict[str, Any]]) -> float:
    """Evaluations per second of one pass of ``function`` over ``contexts``."""
    started = time.perf_counter()
    for context in contexts:
        function(context)
    return len(contexts) / (time.perf_counter() - started)


def best_rates(
    ours: Callable[[Any], Any], theirs: Callable[[Any], Any], contexts: list[dict[str, Any]], repeat: int
) -> tuple[float, float]:
    """Best pass of each engine, passes interleaved so machine noise hits both alike."""
    ours_best = theirs_best = 0.0
    for _ in range(repeat):
        ours_best = max(ours_best, rate(ours, contexts))
        theirs_best = max(theirs_best, rate(theirs, contexts))
    return ours_best, theirs_best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, default=100_000, help="contexts per rule (default 100000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed for the contexts")
    parser.add_argument("--repeat", type=int, default=3, help="passes per engine and rule; the best counts")
    options = parser.parse_args()

    contexts = make_contexts(options.contexts, options.seed)
    engine = RuleEngine(cache_size=0)
    compile_ms: dict[str, float] = {}
    compiled = {}
    for name, rule in RULES.items():
        started = time.perf_counter()
        compiled[name] = engine.compile(rule)
        compile_ms[name] = (time.perf_counter() - started) * 1000

    for name, rule in RULES.items():
        ours = compiled[name]
        for context in contexts[:2000]:
            expected = bool(jsonLogic(rule, context))
            if ours.evaluate(context) != expected:
                print(f"disagreement on {name}: {json.dumps(context)}", file=sys.stderr)
                return 1

    rows = []
    total_ours = total_qubit = 0.0
    for name, rule in RULES.items():
        ours_rate, qubit_rate = best_rates(
            compiled[name].evaluate, partial(jsonLogic, rule), contexts, options.repeat
        )
        total_ours += len(contexts) / ours_rate
        total_qubit += len(contexts) / qubit_rate
        rows.append((name, ours_rate, qubit_rate, ours_rate / qubit_rate, compile_ms[name]))

    evaluations = len(contexts) * len(RULES)
    ours_overall = evaluations / total_ours
    qubit_overall = evaluations / total_qubit
    print(f"{'rule':<26} {'ours evals/s':>14} {'qubit evals/s':>14} {'speedup':>8} {'compile ms':>11}")
    for name, ours_rate, qubit_rate, speedup, compile_time in rows:
        print(f"{name:<26} {ours_rate:>14,.0f} {qubit_rate:>14,.0f} {speedup:>7.1f}x {compile_time:>11.3f}")
    speedup = ours_overall / qubit_overall
    print(f"{'overall':<26} {ours_overall:>14,.0f} {qubit_overall:>14,.0f} {speedup:>7.1f}x")
    summary = {
        "rules": len(RULES),
        "contexts": len(contexts),
        "repeat": options.repeat,
        "ours_evals_per_s": round(ours_overall),
        "qubit_evals_per_s": round(qubit_overall),
        "speedup": round(ours_overall / qubit_overall, 2),
        "compile_ms_per_rule": {name: round(value, 3) for name, value in compile_ms.items()},
        "compile_ms_mean": round(sum(compile_ms.values()) / len(compile_ms), 3),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
