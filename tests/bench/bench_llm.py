"""Benchmark: what an LLM call through ``automate_llm`` costs on top of the provider's own SDK.

Run from the repository root, with the local stack up (``automate up``)::

    python tests/bench/bench_llm.py [--calls 200] [--repeat 3] [--out report.json]

Local servers speaking each provider's wire protocol (``tests/integration/llm_peers.py``) answer at once,
so the numbers are the client side's own cost. The ways of asking the same question, interleaved round by
round (the machine's noise hits all alike):

- ``openai SDK``: a bare ``openai.AsyncOpenAI`` made once and reused (the floor);
- ``achat openai``: ``automate_llm.achat`` with the same server and key (checks, retries, metrics);
- ``achat openai + budget``: the same for an automation with a budget (a reservation before the call and
  its settlement after, in Postgres);
- ``achat openai, cache hit``: ``cache=True`` on an answer already cached (one Postgres read, no call);
- ``anthropic SDK`` / ``achat anthropic``: the same pair for the Messages API;
- ``boto3 converse`` / ``achat bedrock``: a bare bedrock-runtime client made once, against ``achat``.

Prints the median per-call latency (ms) and p95 of each, medians over ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import anthropic
import boto3
import openai
from bench_common import Call, emit_report, fresh_db, interleaved_rounds

from automate.config import get_settings
from automate_llm import achat, set_budget
from tests.integration.llm_peers import anthropic_server, bedrock_server, openai_server

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()

    settings = fresh_db(get_settings(), "automate_bench_llm")
    set_budget(settings, "bench", usd=1_000_000, period="day")
    os.environ.update({"AWS_ACCESS_KEY_ID": "AKIALLMTESTKEY", "AWS_SECRET_ACCESS_KEY": "local-secret"})
    os.environ.pop("AWS_PROFILE", None)
    with ExitStack() as stack:
        oai = stack.enter_context(openai_server())
        ant = stack.enter_context(anthropic_server())
        bed = stack.enter_context(bedrock_server())
        model = "gpt-4o-mini"
        on_openai = {"provider": "openai", "model": model, "api_key": oai.key, "base_url": oai.url + "/v1",
                     "settings": settings}
        on_anthropic = {"provider": "anthropic", "model": "claude-3-5-haiku-latest", "api_key": ant.key,
                        "base_url": ant.url, "settings": settings}
        on_bedrock = {"provider": "bedrock", "model": "anthropic.claude-3-haiku-20240307-v1:0",
                      "region": "us-east-1", "endpoint_url": bed.url, "settings": settings}
        runtime = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=bed.url)

        async def run() -> dict[str, dict[str, float]]:
            bare_openai = openai.AsyncOpenAI(api_key=oai.key, base_url=oai.url + "/v1", max_retries=0)
            bare_anthropic = anthropic.AsyncAnthropic(api_key=ant.key, base_url=ant.url, max_retries=0)
            ways: dict[str, Call] = {
                "openai SDK": lambda: bare_openai.chat.completions.create(model=model, messages=QUESTION),
                "achat openai": lambda: achat(QUESTION, **on_openai),
                "achat openai + budget": lambda: achat(QUESTION, automation="bench", max_tokens=64,
                                                       **on_openai),
                "achat openai, cache hit": lambda: achat(QUESTION, cache=True, **on_openai),
                "anthropic SDK": lambda: bare_anthropic.messages.create(
                    model=on_anthropic["model"], max_tokens=256, messages=QUESTION),
                "achat anthropic": lambda: achat(QUESTION, **on_anthropic),
                "boto3 converse": lambda: asyncio.to_thread(
                    runtime.converse, modelId=on_bedrock["model"],
                    messages=[{"role": "user", "content": [{"text": QUESTION[0]["content"]}]}]),
                "achat bedrock": lambda: achat(QUESTION, **on_bedrock),
            }
            try:
                return await interleaved_rounds(ways, args.calls, args.repeat, warm=10)
            finally:
                await bare_openai.close()
                await bare_anthropic.close()

        results = asyncio.run(run())
    for name, numbers in results.items():
        print(f"{name:26} p50 {numbers['p50_ms']:7.3f} ms   p95 {numbers['p95_ms']:7.3f} ms", file=sys.stderr)
    emit_report({"calls": args.calls, "repeat": args.repeat, "results": results}, args.out)


if __name__ == "__main__":
    main()
