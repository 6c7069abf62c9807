"""What the benchmarks share: a fresh, migrated database of their own on the local stack."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from automate.config import Settings
from automate.db import migrate, set_publisher
from automate.registry import register_contracts

Call = Callable[[], Awaitable[Any]]


async def time_calls(call: Call, count: int) -> list[float]:
    """Milliseconds each of ``count`` awaited calls took, one after the other."""
    took = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        took.append((time.perf_counter() - start) * 1000)
    return took


async def interleaved_rounds(ways: dict[str, Call], calls: int, repeat: int, *,
                             warm: int = 20) -> dict[str, dict[str, float]]:
    """p50 and p95 (ms) of each way, medians over ``repeat`` rounds; each round times every way in turn, so
    the machine's noise hits all alike. ``warm`` calls of each first (pools, imports, caches)."""
    for call in ways.values():
        await time_calls(call, warm)
    p50: dict[str, list[float]] = {name: [] for name in ways}
    p95: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeat):
        for name, call in ways.items():
            took = sorted(await time_calls(call, calls))
            p50[name].append(statistics.median(took))
            p95[name].append(took[int(len(took) * 0.95) - 1])
    return {name: {"p50_ms": round(statistics.median(p50[name]), 3),
                   "p95_ms": round(statistics.median(p95[name]), 3)} for name in ways}


def fresh_db(base: Settings, name: str, **overrides: Any) -> Settings:
    """Settings for database ``name``, dropped and created anew, migrated, contracts registered."""
    with psycopg.connect(base.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(base.dsn)
    info["dbname"] = name
    settings = Settings(**{**base.model_dump(), "database_url": psycopg.conninfo.make_conninfo(**info),
                           **overrides})
    with psycopg.connect(settings.dsn) as conn:
        migrate(conn)
        set_publisher(conn, settings.publisher)
        register_contracts(settings, conn)
    return settings


def emit_report(report: dict[str, Any], path: str | None) -> None:
    """Print the report as JSON, and write it to ``path`` too when given."""
    print(json.dumps(report, indent=2))
    if path:
        with open(path, "w") as fh:
            json.dump(report, fh, indent=2)
