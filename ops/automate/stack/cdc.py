"""The Debezium outbox connector: registered where Debezium is the publisher, removed where the relay is
(never both on one table)."""

from __future__ import annotations

import json
from string import Template
from typing import Any

import psycopg

from automate.config import Settings
from automate.db import connect
from automate.db.cdc import CdcStore
from automate.errors import StackError
from automate.stack.base import http_json, infra_dir

__all__ = ["CONNECTOR", "connector_config", "ensure_outbox_connector", "outbox_connector_status"]

CONNECTOR = "automate-outbox"


def connector_config(settings: Settings) -> dict[str, str]:
    info = psycopg.conninfo.conninfo_to_dict(settings.dsn)
    values = {
        "db_host": info.get("host") or "127.0.0.1",
        "db_port": info.get("port") or "5432",
        "db_user": info.get("user") or "postgres",
        "db_password": info.get("password") or "",
        "db_name": info.get("dbname") or "postgres",
        "topic_prefix": settings.topic_prefix,
        "slot_name": f"{settings.topic_prefix}_outbox".replace("-", "_").replace(".", "_"),
        "publication_name": f"{settings.topic_prefix}_outbox".replace("-", "_").replace(".", "_"),
        "heartbeat_interval_ms": 10000,
        "topic_partitions": 6,
        "ce_source": "automate",
    }
    text = Template((infra_dir() / "connect" / "outbox-connector.json.tmpl").read_text())
    config: dict[str, str] = json.loads(text.substitute({k: str(v) for k, v in values.items()}))
    return config


def _ensure_publication(settings: Settings, name: str) -> None:
    with connect(settings, autocommit=True) as conn:
        CdcStore(conn).ensure_publication(name)


def _get(url: str) -> Any | None:
    try:
        return http_json("GET", url)
    except StackError as exc:
        if "answered 404" in str(exc):
            return None
        raise


def ensure_outbox_connector(settings: Settings) -> str:
    """Create or update the connector (publisher=debezium) or delete it (publisher=relay).

    Returns what was done: "created", "updated", "unchanged", "deleted" or "absent".
    """
    base = f"{settings.connect_base_url}/connectors/{CONNECTOR}"
    current = _get(f"{base}/config")
    if settings.publisher == "relay":
        if current is None:
            return "absent"
        http_json("DELETE", base)
        return "deleted"
    wanted = connector_config(settings)
    _ensure_publication(settings, wanted["publication.name"])
    if current is not None:
        current.pop("name", None)
        if current == wanted:
            status = outbox_connector_status(settings) or {}
            states = [status.get("connector", {}).get("state")]
            states += [t.get("state") for t in status.get("tasks", [])]
            if "FAILED" in states:
                # A task dies when Kafka or Postgres was away too long; it resumes from its offsets.
                http_json("POST", f"{base}/restart?includeTasks=true&onlyFailed=true")
                return "restarted"
            return "unchanged"
    http_json("PUT", f"{base}/config", wanted)
    return "created" if current is None else "updated"


def outbox_connector_status(settings: Settings) -> dict[str, Any] | None:
    """Connect's status of the connector and its task, or None when it is not registered."""
    status: dict[str, Any] | None = _get(f"{settings.connect_base_url}/connectors/{CONNECTOR}/status")
    return status
