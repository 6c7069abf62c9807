"""The demo's events: orders, payments and sign-ups, the same for the same seed."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["XTS_EVERY", "DemoEvent", "generate_events"]

XTS_EVERY: Final = 50  # one order in 50 is in XTS, the currency the demo's legacy ERP refuses


@dataclass(frozen=True, slots=True)
class DemoEvent:
    type: str
    payload: dict[str, Any]


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))), 2)


def generate_events(count: int, seed: int, tag: str = "demo") -> list[DemoEvent]:
    """``count`` events, the same for the same ``seed``: about 50% ``order.created`` (half of them 100 or
    more; every 50th in the test currency XTS), 30% ``payment.received`` (15% without an order, 8% without
    an amount, a quarter of the others over 1000) and 20% ``user.signed_up``. ``tag`` goes into their ids."""
    rng = random.Random(seed)
    events: list[DemoEvent] = []
    orders = payments = users = 0
    for _ in range(count):
        draw = rng.random()
        if draw < 0.5:
            orders += 1
            xts = orders % XTS_EVERY == 0
            events.append(DemoEvent("order.created", {
                "order_id": f"ORD-{tag}-{orders:05d}",
                "amount": round(rng.uniform(100, 900), 2) if xts else _log_uniform(rng, 5, 2000),
                "customer_email": f"customer{rng.randrange(1, 5000)}@example.com",
                "currency": "XTS" if xts else rng.choice(("USD", "USD", "EUR", "GBP")),
                "priority": rng.choice((None, None, "normal", "high")),
            }))
        elif draw < 0.8:
            payments += 1
            order = None if rng.random() < 0.15 else f"ORD-{tag}-{rng.randrange(1, orders + 2):05d}"
            events.append(DemoEvent("payment.received", {
                "payment_id": f"PAY-{tag}-{payments:05d}",
                "order_id": order,
                "amount": None if rng.random() < 0.08 else _log_uniform(rng, 10, 5000),
            }))
        else:
            users += 1
            events.append(DemoEvent("user.signed_up", {
                "user_id": f"USR-{tag}-{users:05d}",
                "email": f"user{users}.{tag}@example.com",
                "plan": rng.choices(("free", "pro", "team"), weights=(6, 3, 1))[0],
                "country": rng.choice(("DE", "FR", "US", "JP", "BR")),
            }))
    return events
