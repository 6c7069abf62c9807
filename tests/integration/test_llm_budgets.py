"""Budgets hold under concurrency (calls reserve before they are sent), every call that spent something
is charged (streams stopped early, replies without usage), a model without a price cannot slip past a
USD budget, and the largest USD limit fits its column."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import psycopg
import pytest
from prometheus_client import REGISTRY

from automate.config import Settings
from automate.errors import LlmBudgetExceeded, LlmError, UsageError
from automate_llm import astream, complete, list_budgets, set_budget, stream, usage
from automate_llm.budgets import MAX_USD
from tests.integration.llm_peers import LlmPeer, openai_server

pytestmark = pytest.mark.integration

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def peer() -> Iterator[LlmPeer]:
    with openai_server() as served:
        yield served


def _options(peer: LlmPeer, settings: Settings, **more: object) -> dict[str, object]:
    return {"api_key": peer.key, "base_url": peer.url + "/v1", "settings": settings, **more}


def _reservations(settings: Settings) -> int:
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute("SELECT count(*) FROM llm_reservation").fetchone()
    return int(row[0]) if row else 0


def test_concurrent_calls_get_through_only_as_far_as_the_budget_goes(db_settings: Settings,
                                                                    peer: LlmPeer) -> None:
    # each call reserves 8 (the prompt's estimate) + 6 (max_tokens) = 14 of the 20 tokens, and is charged
    # 11: one call fits, a second never does, however the calls interleave ("slow" answers after 2 s, so
    # without reservations all of them would pass a check made before the calls)
    set_budget(db_settings, "orders", tokens=20)
    options = _options(peer, db_settings, automation="orders", model="slow", max_tokens=6)

    def call() -> str:
        try:
            complete(HI, **options)
        except LlmBudgetExceeded:
            return "refused"
        return "ok"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: call(), range(8)))
    assert outcomes.count("ok") == 1 and outcomes.count("refused") == 7
    assert len(peer.http.requests) == 1
    (row,) = usage(db_settings, automation="orders")
    assert (row.requests, row.input_tokens + row.output_tokens) == (1, 11)
    assert _reservations(db_settings) == 0  # settled or released, none left behind


def test_a_stream_stopped_after_its_first_piece_is_charged(db_settings: Settings, peer: LlmPeer) -> None:
    cancelled = {"provider": "openai", "model": "gpt-4o", "outcome": "cancelled"}
    before = REGISTRY.get_sample_value("automate_llm_requests_total", cancelled) or 0.0
    options = _options(peer, db_settings, automation="orders", model="gpt-4o")
    for piece in stream(HI, **options):
        assert piece == "The "
        break

    async def first_piece() -> None:
        pieces = astream(HI, **options)
        assert await anext(pieces) == "The "
        await pieces.aclose()  # type: ignore[attr-defined]

    asyncio.run(first_piece())
    (row,) = usage(db_settings, automation="orders")
    # the server's usage comes last, so never arrived: the prompt (8) and the piece (1) are estimated
    assert (row.requests, row.input_tokens, row.output_tokens) == (2, 16, 2)
    assert float(row.cost_usd) == pytest.approx(2 * (8 * 2.5 + 1 * 10) / 1e6)
    assert REGISTRY.get_sample_value("automate_llm_requests_total", cancelled) == before + 2
    assert _reservations(db_settings) == 0


def test_a_stream_failing_part_way_is_charged_what_it_received(db_settings: Settings, peer: LlmPeer) -> None:
    set_budget(db_settings, "orders", tokens=10_000)
    received: list[str] = []
    with pytest.raises(LlmError):
        for piece in stream(HI, **_options(peer, db_settings, automation="orders", model="fails-midway")):
            received.append(piece)
    assert received == ["The ", "capital "]
    (row,) = usage(db_settings, automation="orders")
    assert (row.requests, row.input_tokens, row.output_tokens) == (1, 8, 2)
    assert _reservations(db_settings) == 0


def test_a_reply_without_usage_is_charged_its_estimate(db_settings: Settings, peer: LlmPeer) -> None:
    result = complete(HI, **_options(peer, db_settings, automation="orders", model="no-usage"))
    assert (result.input_tokens, result.output_tokens) == (8, 7)  # estimated: no usage in the reply
    assert "".join(stream(HI, **_options(peer, db_settings, automation="orders", model="no-usage")))
    (row,) = usage(db_settings, automation="orders")
    assert (row.requests, row.input_tokens, row.output_tokens) == (2, 16, 14)


def test_a_usd_budget_refuses_a_model_without_a_price(db_settings: Settings, peer: LlmPeer) -> None:
    set_budget(db_settings, "orders", usd="5")
    with pytest.raises(LlmBudgetExceeded, match="no price"):
        complete(HI, **_options(peer, db_settings, automation="orders", model="my-local-model"))
    assert peer.http.requests == []
    priced = Settings(**{**db_settings.model_dump(), "llm_prices": {"my-local-model": (1.0, 1.0)}})
    assert complete(HI, **_options(peer, priced, automation="orders", model="my-local-model")).cost_usd > 0
    set_budget(db_settings, "tokens-only", tokens=10_000)  # a token budget counts any model
    complete(HI, **_options(peer, db_settings, automation="tokens-only", model="my-local-model"))


def test_the_largest_usd_limit_fits_its_column(db_settings: Settings) -> None:
    set_budget(db_settings, "orders", usd=str(MAX_USD))
    (budget,) = list_budgets(db_settings)
    assert budget.usd_limit == Decimal("100000000")
    with pytest.raises(UsageError):
        set_budget(db_settings, "orders", usd="100000000.01")
