"""The Debezium outbox connector: registered where Debezium is the publisher, removed where the relay is
(never both on one table).

The database password never enters the connector's configuration: ``database.password`` is a config
provider placeholder that the Connect worker resolves when it starts the connector, so Connect's REST API
(``GET /connectors/<name>/config``, ``/tasks``) answers the placeholder. The local stack's worker has a
``FileConfigProvider`` (alias ``file``) that may read only ``<home>/conf/connect/secrets/``, where the
password is kept in a 0600 properties file; an operator's own Connect (``AUTOMATE_CONNECT_URL``) names its
placeholder in ``AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER`` (docs/outbox.md)."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from automate.config import Settings
from automate.db import connect
from automate.db.cdc import CdcStore
from automate.errors import ConfigurationError, ErrorCodes, StackError
from automate.sizes import connect_size_config
from automate.stack.base import Layout, http_json, infra_dir
from automate.stack.credentials import (
    PASSWORD_KEY,
    PROVIDER,
    connect_secrets_dir,
    has_file_provider,
    is_placeholder,
    java_properties_value,
    outbox_password_file,
    private_dir,
    write_private,
)

__all__ = ["CONNECTOR", "connector_config", "ensure_outbox_connector", "outbox_connector_status",
           "password_placeholder"]

CONNECTOR = "automate-outbox"


def _names(settings: Settings) -> str:
    return f"{settings.topic_prefix}_outbox".replace("-", "_").replace(".", "_")


def password_placeholder(settings: Settings) -> str:
    """What the connector's ``database.password`` holds: the configured placeholder, or the local
    worker's ``${file:<home>/conf/connect/secrets/outbox.properties:database.password}``.

    Raises:
        ConfigurationError: (code ``connect.config_provider``) Connect is external and no placeholder is
            configured, or the configured one is not a ``${provider:...}`` reference.
    """
    configured = settings.connect_password_placeholder
    if configured is not None:
        if not is_placeholder(configured):
            raise ConfigurationError(
                "AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER must be one config provider reference such as "
                "${file:/etc/connect/automate.properties:password}, never the password itself",
                code=ErrorCodes.CONNECT_CONFIG_PROVIDER,
            )
        return configured
    if settings.connect_url is not None:
        raise ConfigurationError(
            "AUTOMATE_CONNECT_URL is set but AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER is not: configure a "
            "config provider on that Connect worker (e.g. config.providers=file, config.providers.file.class="
            "org.apache.kafka.common.config.provider.FileConfigProvider), put the database password where "
            "it reads, and set AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER to its reference (docs/outbox.md)",
            code=ErrorCodes.CONNECT_CONFIG_PROVIDER,
        )
    return f"${{{PROVIDER}:{outbox_password_file(Layout(settings.home))}:{PASSWORD_KEY}}}"


def connector_config(settings: Settings) -> dict[str, str]:
    """The connector's configuration (the PUT body): ``infra/connect/outbox-connector.json`` with the
    database, topic and slot of ``settings``; built as data, never by pasting text into JSON."""
    info = psycopg.conninfo.conninfo_to_dict(settings.dsn)
    config: dict[str, str] = json.loads((infra_dir() / "connect" / "outbox-connector.json").read_text())
    config.update({
        "database.hostname": str(info.get("host") or "127.0.0.1"),
        "database.port": str(info.get("port") or "5432"),
        "database.user": str(info.get("user") or "postgres"),
        "database.password": password_placeholder(settings),
        "database.dbname": str(info.get("dbname") or "postgres"),
        "topic.prefix": settings.topic_prefix,
        "slot.name": _names(settings),
        "publication.name": _names(settings),
        **connect_size_config(settings),  # the one size limit's share (automate.sizes)
    })
    return config


def _store_password(settings: Settings) -> bool:
    """Write the database password where the local worker's FileConfigProvider reads it (0600, in a 0700
    folder). Returns True when it changed. Nothing to write when the placeholder is the operator's."""
    if settings.connect_password_placeholder is not None:
        return False
    layout = Layout(settings.home)
    _check_local_provider(layout)
    password = str(psycopg.conninfo.conninfo_to_dict(settings.dsn).get("password") or "")
    private_dir(connect_secrets_dir(layout))
    text = (
        "# The outbox connector's database password, read by Connect's FileConfigProvider "
        "(automate.stack.cdc).\n"
        f"{PASSWORD_KEY}={java_properties_value(password)}\n"
    )
    return write_private(outbox_password_file(layout), text)


def _check_local_provider(layout: Layout) -> None:
    if not has_file_provider(layout):
        raise ConfigurationError(
            f"the Kafka Connect worker of {layout.home} was started without the file config provider that "
            "keeps the database password out of the connector's configuration (started by an older version, "
            "or not by `automate up`): restart it with `automate down connect && automate up connect`, or "
            "set AUTOMATE_CONNECT_URL and AUTOMATE_CONNECT_PASSWORD_PLACEHOLDER for a Connect of your own",
            code=ErrorCodes.CONNECT_CONFIG_PROVIDER,
        )


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

    Returns what was done: "created", "updated", "restarted", "unchanged", "deleted" or "absent".

    Raises:
        ConfigurationError: (code ``connect.config_provider``) no config provider keeps the password out
            of the connector's configuration (see :func:`password_placeholder`); nothing was sent.
    """
    base = f"{settings.connect_base_url}/connectors/{CONNECTOR}"
    if settings.publisher == "relay":
        if _get(f"{base}/config") is None:
            return "absent"
        http_json("DELETE", base)
        return "deleted"
    wanted = connector_config(settings)
    password_changed = _store_password(settings)
    current = _get(f"{base}/config")
    _ensure_publication(settings, wanted["publication.name"])
    if current is not None:
        current.pop("name", None)
        if current == wanted:
            if password_changed:
                # Same placeholder, new password behind it: the worker resolves it again on a restart.
                http_json("POST", f"{base}/restart?includeTasks=true")
                return "restarted"
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
