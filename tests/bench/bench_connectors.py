"""Benchmark: what a connector call costs on top of the request it makes.

Run from the repository root, with the local stack up (``automate up``)::

    python tests/bench/bench_connectors.py [--calls 300] [--repeat 3] [--out report.json]

One loopback HTTP server answers every call at once, so the numbers are Automate's own overhead. Four
ways to make the same POST, interleaved round by round (the machine's noise hits all alike):

- ``httpx``: a bare ``httpx.AsyncClient`` post (the floor);
- ``http.request``: the SSRF-guarded action, no secret;
- ``http.request + $secret``: the same with ``Authorization: Bearer $secret:TOKEN`` (one encrypted
  secret read from Postgres and decrypted per call);
- ``slack.send_message``: a connector step with a named connection (read per call), its token a
  ``$secret:``, the input checked against its schema, and the shared rate limit taken in Postgres (set
  high enough never to wait).

Prints the median per-call latency (ms) and p95 of each, medians over ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx
from bench_common import Call, emit_report, fresh_db, interleaved_rounds

from automate.config import Settings, get_settings
from automate.runtime.actions import ActionContext, registry
from automate.secrets.admin import set_secret
from automate.secrets.keys import ensure_key_file
from automate_connectors import RateLimit
from automate_connectors.builtin.slack import SlackConnector
from automate_connectors.connections import set_connection
from tests.integration.peers import Recorded, http_peer


def _ctx(settings: Settings, connection: str | None = None) -> ActionContext:
    ident = str(uuid.uuid4())
    return ActionContext(execution_id=ident, step_id="s", attempt=1, idempotency_key=f"{ident}:s",
                         tenant=settings.tenant, settings=settings, automation="bench", connection=connection,
                         log=logging.LoggerAdapter(logging.getLogger("bench"), {}))


def _answer(_request: Recorded) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, b'{"ok": true, "channel": "C1", "ts": "1.0"}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()

    base = get_settings()
    keys = base.home / "conf" / "bench-secret.keys"
    ensure_key_file(keys)
    settings = fresh_db(base, "automate_bench_connectors", secret_key_file=keys,
                       http_allowlist=("127.0.0.1/32",))
    set_secret(settings, "TOKEN", "bench-token-value")
    never_waits = RateLimit(per_second=1e6, burst=10**6)
    SlackConnector.rate_limits = {**SlackConnector.rate_limits, "chat": never_waits}
    with http_peer(_answer) as peer:
        set_connection(settings, "slack", "slack", {"token": "$secret:TOKEN", "base_url": f"{peer.url}/api/"})
        http = registry.require("http.request")
        slack = registry.require("slack.send_message")
        plain = {"method": "POST", "url": f"{peer.url}/api/x", "json": {"a": 1}}
        secret = {**plain, "headers": {"Authorization": "Bearer $secret:TOKEN"}}

        async def run() -> dict[str, dict[str, float]]:
            async with httpx.AsyncClient() as client:
                ways: dict[str, Call] = {
                    "httpx": lambda: client.post(plain["url"], json={"a": 1}),
                    "http.request": lambda: http.run(plain, _ctx(settings)),
                    "http.request + $secret": lambda: http.run(secret, _ctx(settings)),
                    "slack.send_message": lambda: slack.run({"channel": "C1", "text": "hi"},
                                                            _ctx(settings, "slack")),
                }
                return await interleaved_rounds(ways, args.calls, args.repeat)

        results = asyncio.run(run())
    for name, numbers in results.items():
        print(f"{name:26} p50 {numbers['p50_ms']:7.3f} ms   p95 {numbers['p95_ms']:7.3f} ms", file=sys.stderr)
    emit_report({"calls": args.calls, "repeat": args.repeat, "results": results}, args.out)


if __name__ == "__main__":
    main()
