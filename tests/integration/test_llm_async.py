"""The async twins keep the event loop free: preparing a call (here, reading its key from a Vault over
HTTP) runs in a thread.

The local Vault holds its answer until a coroutine on the caller's own event loop says so. If preparing
ran on the loop, that coroutine could not run while the loop waits for Vault: the Vault client would
time out first, or the Vault would answer only when its patience runs out, noting so (the test fails
either way instead of hanging)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from pydantic import SecretStr

from automate.config import Settings
from automate_llm import acomplete, astream
from tests.integration.llm_peers import openai_server
from tests.integration.peers import Recorded, http_peer

pytestmark = pytest.mark.integration

HI = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("entry", ["acomplete", "astream"])
def test_reading_a_key_from_vault_does_not_block_the_event_loop(settings: Settings, entry: str) -> None:
    asked, go, impatient = threading.Event(), threading.Event(), []

    with openai_server() as llm:
        def respond(request: Recorded) -> tuple[int, dict[str, str], bytes]:
            asked.set()
            if not go.wait(20):
                impatient.append(request.path)
            body = {"data": {"data": {"key": llm.key}, "metadata": {"version": 1}}}
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

        with http_peer(respond) as vault:
            configured = Settings(**{**settings.model_dump(), "vault_url": vault.url,
                                     "vault_token": SecretStr("s.token")})
            options: dict[str, Any] = {"api_key": "$vault:llm/openai#key", "base_url": llm.url + "/v1",
                                       "settings": configured}

            async def call() -> str:
                if entry == "acomplete":
                    return (await acomplete(HI, **options)).text
                return "".join([piece async for piece in astream(HI, **options)])

            async def release_when_asked() -> None:
                while not asked.is_set():  # runs only while the loop is free
                    await asyncio.sleep(0.01)
                go.set()

            async def main() -> str:
                answer, _ = await asyncio.gather(call(), release_when_asked())
                return answer

            assert asyncio.run(main()) == "The capital of France is Paris."
    assert impatient == []  # Vault was released by the coroutine: the loop ran while the key was read
