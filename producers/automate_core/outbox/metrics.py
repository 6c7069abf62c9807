"""The relay's Prometheus metrics, read when Prometheus scrapes: the relay's own counts
(:class:`~automate_core.outbox.relay.RelayStats`) and the outbox's backlog from the database.

- ``automate_relay_published_total``, ``automate_relay_retried_total``, ``automate_relay_failed_total``:
  rows published, rows put back for a retry after a failed delivery, rows Kafka refused for good;
- ``automate_outbox_backlog``: rows not yet published (pending or claimed), and
  ``automate_outbox_oldest_seconds``: the age of the oldest of them (0 when there is none). Absent from a
  scrape while the database cannot be read (a scrape never waits for it long: 2 s; so also when a backlog
  of millions of rows takes longer to count).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from automate.config import Settings

__all__ = ["RelayCollector", "serve_relay_metrics"]

log = logging.getLogger("automate.relay")


class RelayCollector:
    """A prometheus_client collector of one relay's counts and its outbox's backlog."""

    def __init__(self, stats: Any, settings: Settings) -> None:
        from automate_core.outbox.store import SkipLockedClaimOutboxStore

        self.stats = stats
        self._store = SkipLockedClaimOutboxStore(settings=settings,
                                                 conninfo=_with_timeouts(settings.dsn))
        self._lock = threading.Lock()  # scrapes may overlap; the connection is one

    def describe(self) -> list[Any]:
        return []  # (collected at each scrape; nothing to check at registration)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for name, what, value in (
                ("published", "Outbox rows published to Kafka.", self.stats.published),
                ("retried", "Outbox rows put back for a retry after a failed delivery.", self.stats.retried),
                ("failed", "Outbox rows Kafka refused for good (marked failed).", self.stats.failed)):
            yield CounterMetricFamily(f"automate_relay_{name}", what, value=value)
        waiting = self._waiting()
        if waiting is not None:
            count, oldest = waiting
            yield GaugeMetricFamily("automate_outbox_backlog", "Outbox rows not yet published (pending or "
                                    "claimed).", value=count)
            yield GaugeMetricFamily("automate_outbox_oldest_seconds", "Age of the oldest outbox row not yet "
                                    "published (0: none).", value=oldest or 0.0)

    def _waiting(self) -> tuple[int, float | None] | None:
        import psycopg

        if not self._lock.acquire(timeout=2):  # another scrape is reading it
            return None
        try:
            return self._store.waiting()
        except psycopg.Error as exc:
            log.debug("outbox backlog not read: %s", exc)
            self._store.close()
            return None
        finally:
            self._lock.release()

    def close(self) -> None:
        self._store.close()


def serve_relay_metrics(relay: Any, settings: Settings, port: int = 0) -> int:
    """Serve ``relay``'s metrics on 127.0.0.1:``port`` (0: a free one, announced to the local
    Prometheus); returns the port."""
    from prometheus_client import CollectorRegistry

    from automate.metrics import serve_metrics

    registry = CollectorRegistry()
    registry.register(RelayCollector(relay.stats, settings))
    bound = serve_metrics(settings, "automate-relay", port, registry=registry)
    log.info("relay metrics served", extra={"action": "relay.metrics", "metrics_port": bound})
    return bound


def _with_timeouts(dsn: str) -> str:
    """``dsn`` with a 2 s connect timeout, statement timeout and TCP timeout (an unanswered connection is
    given up after 5 s, not the kernel's hours): a scrape is not held up by the database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    options = " ".join(filter(None, [str(params.get("options") or ""), "-c statement_timeout=2000"]))
    return make_conninfo(dsn, connect_timeout=2, options=options, keepalives=1, keepalives_idle=5,
                         keepalives_interval=2, keepalives_count=2, tcp_user_timeout=5000)
