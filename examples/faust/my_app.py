"""A Faust app of your own with Automate's processors mounted in it (docs/processors.md, "Engines").

Your app's id is the consumer group and your broker settings are used; the processors' agent routes
``automate.events`` to the workflows' topics beside your own agents. Run it as any Faust app:

    python examples/faust/my_app.py worker -l info

(the project's settings as usual: AUTOMATE_KAFKA_BOOTSTRAP, AUTOMATE_DATABASE_URL, AUTOMATE_TOPIC_PREFIX...).
"""

from __future__ import annotations

import collections
from typing import Any

import faust

from automate.config import get_settings
from automate.processors.faust_agent import mount
from automate.topics import events_topic

settings = get_settings()
app = faust.App(
    "my-service-automate",
    broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
    web_enabled=False,
    topic_disable_leader=True,  # no internal topics
    broker_commit_interval=1.0,
    producer_request_timeout=30.0,  # (a send to a missing topic fails in 30 s, not Faust's 20 minutes)
    datadir=str(settings.home / "faust"),
)

mount(app, settings)  # the processors' agent: trigger index, rules, requests, poison letters, hot reload

# Your own stream code beside it, on the same events (each agent sees every record).
seen: collections.Counter[str] = collections.Counter()


@app.agent(app.topic(events_topic(settings), key_serializer="raw", value_serializer="raw"))
async def count_types(stream: Any) -> None:
    async for event in stream.events():
        headers = dict(event.message.headers or ())
        kind = (headers.get("ce_type") or b"?").decode(errors="replace")
        seen[kind] += 1
        print(f"my agent saw {kind} ({seen[kind]} so far)", flush=True)


if __name__ == "__main__":
    app.main()
