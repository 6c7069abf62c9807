"""What LLM calls keep in Postgres: the opt-in response cache (per tenant, expiring), budgets per
automation that stop calls before they are sent, usage added atomically; `automate llm`; keys from the
secret store."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY

from automate.cli.llm import llm
from automate.config import Settings
from automate.errors import LlmBudgetExceeded, SecretAccessDenied, UsageError
from automate.secrets.admin import set_secret
from automate_llm import complete, delete_budget, list_budgets, set_budget, stream, usage
from automate_llm.budgets import charge
from tests.integration.llm_peers import LlmPeer, openai_server

pytestmark = pytest.mark.integration

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def peer() -> Iterator[LlmPeer]:
    with openai_server() as served:
        yield served


def _options(peer: LlmPeer, settings: Settings, **more: object) -> dict[str, object]:
    return {"api_key": peer.key, "base_url": peer.url + "/v1", "settings": settings, **more}


def test_a_cached_answer_is_served_again_without_a_call(db_settings: Settings, peer: LlmPeer) -> None:
    before = REGISTRY.get_sample_value("automate_llm_requests_total", {
        "provider": "openai", "model": "gpt-4o", "outcome": "cached"}) or 0.0
    first = complete(HI, model="gpt-4o", cache=True, **_options(peer, db_settings))
    again = complete(HI, model="gpt-4o", cache=True, **_options(peer, db_settings))
    assert (first.cached, again.cached) == (False, True) and again.text == first.text
    assert again.cost_usd == 0.0 and first.cost_usd > 0 and len(peer.http.requests) == 1
    assert REGISTRY.get_sample_value("automate_llm_requests_total", {
        "provider": "openai", "model": "gpt-4o", "outcome": "cached"}) == before + 1
    # another request, another tenant, or no cache=True: a call
    complete(HI, model="gpt-4o", cache=True, temperature=0.1, **_options(peer, db_settings))
    complete(HI, model="gpt-4o", cache=True, tenant="other", **_options(peer, db_settings))
    complete(HI, model="gpt-4o", **_options(peer, db_settings))
    assert len(peer.http.requests) == 4
    assert list(stream(HI, model="gpt-4o", cache=True, **_options(peer, db_settings))) == [first.text]
    assert len(peer.http.requests) == 4


def test_a_cached_answer_expires(db_settings: Settings, peer: LlmPeer) -> None:
    complete(HI, cache=True, **_options(peer, db_settings))
    with psycopg.connect(db_settings.dsn) as conn:
        (key, response), = conn.execute("SELECT key, response FROM llm_cache").fetchall()
        assert peer.key not in key + str(response)
        conn.execute("UPDATE llm_cache SET expires_at = now() - interval '1 second'")
    assert complete(HI, cache=True, **_options(peer, db_settings)).cached is False
    assert len(peer.http.requests) == 2


def test_structured_answers_are_cached_with_their_document(db_settings: Settings, peer: LlmPeer) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    complete(HI, schema=schema, cache=True, **_options(peer, db_settings))
    again = complete(HI, schema=schema, cache=True, **_options(peer, db_settings))
    assert again.cached and again.json == {"city": "Paris", "country": "France"}


def test_a_spent_token_budget_stops_calls_before_they_are_sent(db_settings: Settings, peer: LlmPeer) -> None:
    set_budget(db_settings, "orders", tokens=20, period="day")
    # each call reserves its prompt's estimate (8 tokens) and its max_tokens: 14 of the 20
    options = _options(peer, db_settings, automation="orders", max_tokens=6)
    complete(HI, **options)  # 5 input + 6 output tokens charged
    (budget,) = list_budgets(db_settings)
    assert (budget.automation, budget.tokens_used, budget.exceeded) == ("orders", 11, False)
    with pytest.raises(LlmBudgetExceeded, match="11 of 20 tokens used or reserved, this call may use 14"):
        complete(HI, **options)
    with pytest.raises(LlmBudgetExceeded):
        list(stream(HI, **options))
    assert len(peer.http.requests) == 1
    complete(HI, **_options(peer, db_settings, automation="billing"))  # another automation: no budget
    assert delete_budget(db_settings, "orders") and not delete_budget(db_settings, "orders")
    complete(HI, **options)
    assert len(peer.http.requests) == 3


def test_a_usd_budget_per_month(db_settings: Settings, peer: LlmPeer) -> None:
    set_budget(db_settings, "orders", usd="0.00005", period="month")
    # reserved: 8 * 2.5 + 2 * 10 = 40 micro-dollars; charged: what the server counted
    options = _options(peer, db_settings, automation="orders", model="gpt-4o", max_tokens=2)
    first = complete(HI, **options)  # 5 * 2.5 + 6 * 10 = 72.5 micro-dollars
    assert first.cost_usd == pytest.approx(72.5e-6)
    with pytest.raises(LlmBudgetExceeded, match="month"):
        complete(HI, **options)
    (row,) = usage(db_settings, automation="orders")
    assert (row.requests, row.input_tokens, row.output_tokens) == (1, 5, 6)
    assert float(row.cost_usd) == pytest.approx(72.5e-6)


def test_usage_adds_up_under_concurrency(db_settings: Settings) -> None:
    def spend() -> None:
        for _ in range(10):
            charge(db_settings, db_settings.tenant, "busy", input_tokens=3, output_tokens=2, cost_usd=0.001)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (row,) = usage(db_settings, automation="busy")
    assert (row.requests, row.input_tokens, row.output_tokens) == (80, 240, 160)
    assert float(row.cost_usd) == pytest.approx(0.08)


def test_budgets_are_checked(db_settings: Settings) -> None:
    for bad in ({"usd": None, "tokens": None}, {"usd": "-1"}, {"usd": "lots"}, {"tokens": -5},
                {"tokens": 5, "period": "week"}):
        with pytest.raises(UsageError):
            set_budget(db_settings, "orders", **bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        set_budget(db_settings, "Not A Slug", usd=1)


def test_the_cli(db_settings: Settings, peer: LlmPeer) -> None:
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(llm, list(args), obj=db_settings)
        return result.exit_code, result.output

    assert run("budget", "set", "orders", "--usd", "5", "--tokens", "1000", "--period", "month") == (
        0, "budget of orders: $5 and 1000 tokens per month\n")
    complete(HI, **_options(peer, db_settings, automation="orders", max_tokens=10))
    code, listing = run("budget", "list")
    assert code == 0 and "orders" in listing and "month" in listing and "11" in listing and "ok" in listing
    code, used = run("usage")
    assert code == 0 and "orders" in used and "0.000000" not in used.split("orders")[0]
    assert run("budget", "set", "orders")[0] == 1
    assert run("budget", "set", "orders", "--usd", "1", "--period", "week")[0] == 2
    assert run("budget", "delete", "orders") == (0, "budget of orders removed\n")
    code, output = run("budget", "delete", "orders")
    assert code == 1 and "orders has no budget" in output


def test_keys_come_from_the_secret_store(db_settings: Settings, peer: LlmPeer) -> None:
    set_secret(db_settings, "OPENAI_KEY", peer.key, scopes=["connector:llm"])
    assert complete(HI, api_key="$secret:OPENAI_KEY", base_url=peer.url + "/v1", settings=db_settings).text
    configured = Settings(**{**db_settings.model_dump(), "llm_api_key": "$secret:OPENAI_KEY",
                             "llm_base_url": peer.url + "/v1"})
    assert complete(HI, settings=configured).text
    set_secret(db_settings, "BILLING_KEY", peer.key, scopes=["automation:billing"])
    with pytest.raises(SecretAccessDenied):
        complete(HI, api_key="$secret:BILLING_KEY", automation="orders", settings=db_settings)
    assert complete(HI, api_key="$secret:BILLING_KEY", automation="billing", base_url=peer.url + "/v1",
                    settings=db_settings).text
    assert len(peer.http.requests) == 3
