"""The public API's LLM examples (chat, options, count_tokens, get_provider, achat), copied here as
written, in a fresh interpreter whose only configuration is the OpenAI SDK's own variables pointing at a
local OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.integration.llm_peers import openai_server

pytestmark = pytest.mark.integration

SEED = textwrap.dedent('''
    from automate_llm import chat

    response = chat([
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"}
    ])
    print(response)  # "The capital of France is Paris."

    # With options
    response = chat(
        messages=[{"role": "user", "content": "Write a haiku."}],
        model="gpt-4",
        temperature=0.9,
        max_tokens=100
    )

    from automate_llm import count_tokens

    tokens = count_tokens("Hello, world!")
    print(f"Text uses approximately {tokens} tokens")

    from automate_llm import get_provider

    provider = get_provider("openai")
    response = provider.chat([
        {"role": "user", "content": "Hello!"}
    ])
    print(response)

    import asyncio
    from automate_llm import achat

    async def main():
        return await achat([{"role": "user", "content": "Hello again!"}])

    print(asyncio.run(main()))
''')


def test_the_seed_llm_examples_run_as_written() -> None:
    with openai_server() as peer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOMATE_LLM_", "OPENAI_"))}
        env.update(OPENAI_BASE_URL=peer.url + "/v1", OPENAI_API_KEY=peer.key)
        result = subprocess.run([sys.executable, "-c", SEED], capture_output=True, text=True, env=env,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["The capital of France is Paris.",
                                              "Text uses approximately 4 tokens",
                                              "The capital of France is Paris.",
                                              "The capital of France is Paris."]
        bodies = [json.loads(r.body) for r in peer.http.requests]
    assert [b["model"] for b in bodies] == ["gpt-4o-mini", "gpt-4", "gpt-4o-mini", "gpt-4o-mini"]
    assert (bodies[1]["temperature"], bodies[1]["max_tokens"]) == (0.9, 100)
    assert bodies[1]["messages"] == [{"role": "user", "content": "Write a haiku."}]
    assert all(r.headers["authorization"] == f"Bearer {peer.key}" for r in peer.http.requests)
