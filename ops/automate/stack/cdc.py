"""The Debezium outbox connector of one installation: registered where Debezium is the publisher, removed
where the relay is (never both on one table).

**Names.** An installation is one database and topic prefix. Its connector, replication slot and
publication are named from them (``<prefix>.outbox.<database>``, ``<prefix>_outbox_<database>``) unless
``AUTOMATE_OUTBOX_CONNECTOR_NAME`` / ``AUTOMATE_OUTBOX_SLOT_NAME`` say otherwise, so installations share a
Connect cluster and a Postgres server side by side. The connector's configuration carries the
installation's identity (``automate.installation``: the cluster's system identifier, the database's oid and
the prefix, the same whatever host name a client uses); a connector of the installation's name that
carries another identity is not touched (:class:`ConnectorNotOurs`). A connector made by a version before
these names (``automate-outbox``, no identity) that reads this database for this prefix is adopted with its
slot, so no event is lost on the upgrade; when Connect loses it later, it is registered again under that
name and slot (``<prefix>_outbox``, while this database has it and no slot of the new name).

The database password never enters the configuration: ``database.password`` is a config provider
placeholder the Connect worker resolves (:mod:`automate.stack.credentials`, docs/outbox.md)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Final

import psycopg

from automate.config import Settings
from automate.db import connect
from automate.db.cdc import CdcStore
from automate.errors import ConnectError, ConnectorNotOurs, PublisherBehind, StackError
from automate.sizes import connect_size_config
from automate.stack.base import Layout, http_json, infra_dir
from automate.stack.credentials import (
    check_password_setup,
    outbox_password_file,
    password_placeholder,
    store_outbox_password,
)

__all__ = ["IDENTITY_KEY", "LEGACY_CONNECTOR", "OutboxNames", "connector_config", "default_names",
           "ensure_outbox_connector", "installation_id", "outbox_connector_status", "outbox_names",
           "remove_outbox_connector", "task_states"]

IDENTITY_KEY: Final = "automate.installation"  # in the connector's configuration
LEGACY_CONNECTOR: Final = "automate-outbox"  # the one name of every installation before 0007
_CATCH_UP_S: Final = 60.0  # how long a switch to the relay waits for Debezium to publish what it owes



@dataclass(frozen=True, slots=True)
class OutboxNames:
    connector: str
    slot: str  # the replication slot; the publication has the same name

    @property
    def publication(self) -> str:
        return self.slot


def _fitted(raw: str, unsafe: str, limit: int, *, lower: bool = False) -> str:
    """``raw`` (lowercased with ``lower``) with every character matching ``unsafe`` replaced by ``_``; when
    that changed it or it is longer than ``limit``, cut and suffixed with a digest of ``raw`` so that
    distinct names stay distinct (``App`` and ``app`` too)."""
    name = re.sub(unsafe, "_", raw.lower() if lower else raw)
    if name == raw and len(name) <= limit:
        return name
    return f"{name[:limit - 9]}_{hashlib.sha256(raw.encode()).hexdigest()[:8]}"


def _database(settings: Settings) -> dict[str, str]:
    info = psycopg.conninfo.conninfo_to_dict(settings.dsn)
    return {"host": str(info.get("host") or "127.0.0.1"), "port": str(info.get("port") or "5432"),
            "user": str(info.get("user") or "postgres"), "dbname": str(info.get("dbname") or "postgres")}


def default_names(settings: Settings) -> OutboxNames:
    """The installation's names: set explicitly, or made of its topic prefix and database name."""
    dbname = _database(settings)["dbname"]
    connector = settings.outbox_connector_name or _fitted(
        f"{settings.topic_prefix}.outbox.{dbname}", r"[^A-Za-z0-9._-]", 200)
    slot = settings.outbox_slot_name or _fitted(
        f"{settings.topic_prefix}_outbox_{dbname}", r"[^a-z0-9_]", 63, lower=True)
    return OutboxNames(connector, slot)


def installation_id(settings: Settings) -> str:
    """``pg<system identifier>.db<oid>/<topic prefix>``: this installation, whoever asks and how."""
    with connect(settings, autocommit=True) as conn:
        system, oid, _name = CdcStore(conn).installation()
    return f"pg{system}.db{oid}/{settings.topic_prefix}"


def _get(url: str) -> Any | None:
    try:
        return http_json("GET", url)
    except StackError as exc:
        if "answered 404" in str(exc):
            return None
        raise


def _connector_url(settings: Settings, name: str) -> str:
    return f"{settings.connect_base_url}/connectors/{name}"


def _is_legacy_of(config: dict[str, Any], settings: Settings) -> bool:
    """A connector of a version before 0007 that reads this database for this prefix."""
    return (IDENTITY_KEY not in config and config.get("topic.prefix") == settings.topic_prefix
            and config.get("database.dbname") == _database(settings)["dbname"])


def _own(settings: Settings, identity: str) -> tuple[OutboxNames, dict[str, Any] | None]:
    """This installation's names and its connector's current configuration (None: not registered).

    Raises:
        ConnectorNotOurs: a connector of this installation's name belongs to another installation.
    """
    names = default_names(settings)
    current = _get(f"{_connector_url(settings, names.connector)}/config")
    if current is not None:
        if current.get(IDENTITY_KEY) != identity and not (
                names.connector == LEGACY_CONNECTOR and _is_legacy_of(current, settings)):
            raise ConnectorNotOurs(
                f"Kafka Connect already has a connector {names.connector!r} for another installation "
                f"(database {current.get('database.dbname')!r} at {current.get('database.hostname')!r}, "
                f"topic prefix {current.get('topic.prefix')!r}, "
                f"{IDENTITY_KEY}={current.get(IDENTITY_KEY)!r}; "
                f"this one is {identity!r}): it was left alone. Name this installation's connector with "
                "AUTOMATE_OUTBOX_CONNECTOR_NAME (and its slot with AUTOMATE_OUTBOX_SLOT_NAME)")
        # The slot of a registered connector is kept: a new one would start at the present position and
        # skip what the old one had not read.
        return OutboxNames(names.connector, str(current.get("slot.name") or names.slot)), current
    if settings.outbox_connector_name is None:
        legacy = _get(f"{_connector_url(settings, LEGACY_CONNECTOR)}/config")
        if legacy is not None and (legacy.get(IDENTITY_KEY) == identity
                                   or _is_legacy_of(legacy, settings)):
            return OutboxNames(LEGACY_CONNECTOR, str(legacy.get("slot.name") or names.slot)), legacy
        if legacy is None and settings.outbox_slot_name is None and _legacy_slot_kept(settings, names):
            # The adopted connector was lost (a standalone worker forgets the connectors made over REST
            # when it restarts): registered again as it was, it resumes from its slot, which holds what
            # was committed meanwhile. A new slot would start at the present and skip that, and the old
            # one would keep WAL forever.
            return OutboxNames(LEGACY_CONNECTOR, _legacy_slot(settings)), None
    return names, None


def _legacy_slot(settings: Settings) -> str:
    """The slot (and publication) name of this prefix's connector before 0007."""
    return f"{settings.topic_prefix}_outbox".replace("-", "_").replace(".", "_")


def _legacy_slot_kept(settings: Settings, names: OutboxNames) -> bool:
    """Whether this database still has the pre-0007 slot of this prefix and not yet one of the new name."""
    with connect(settings, autocommit=True) as conn:
        store = CdcStore(conn)
        return not store.has_slot(names.slot) and store.has_slot(_legacy_slot(settings))


def outbox_names(settings: Settings) -> OutboxNames:
    """The names this installation's connector has in Connect (or will get when registered)."""
    return _own(settings, installation_id(settings))[0]


def connector_config(settings: Settings, names: OutboxNames | None = None,
                     identity: str | None = None) -> dict[str, str]:
    """The connector's configuration (the PUT body): ``infra/connect/outbox-connector.json`` with the
    database, topic prefix, slot and identity of this installation; built as data, never as text."""
    names = names or default_names(settings)
    db = _database(settings)
    config: dict[str, str] = json.loads((infra_dir() / "connect" / "outbox-connector.json").read_text())
    config.update({
        "database.hostname": db["host"],
        "database.port": db["port"],
        "database.user": db["user"],
        "database.password": password_placeholder(settings, names.connector),
        "database.dbname": db["dbname"],
        "topic.prefix": settings.topic_prefix,
        "slot.name": names.slot,
        "publication.name": names.publication,
        # The probe's inserts (automate.publisher_watch) reach the connector as records of this topic and
        # are dropped before Kafka.
        "predicates.isProbe.pattern": re.escape(f"{settings.topic_prefix}.public.automate_publisher_probe"),
        **connect_size_config(settings),  # the one size limit's share (automate.sizes)
    })
    if identity is not None:
        config[IDENTITY_KEY] = identity
    return config


def _restart(settings: Settings, name: str, *, only_failed: bool = False) -> None:
    query = "includeTasks=true" + ("&onlyFailed=true" if only_failed else "")
    http_json("POST", f"{_connector_url(settings, name)}/restart?{query}")


def task_states(status: dict[str, Any] | None) -> list[str]:
    """The connector's state then each task's, from Connect's status answer."""
    if not status:
        return []
    states = [str(status.get("connector", {}).get("state"))]
    return states + [str(t.get("state")) for t in status.get("tasks", [])]


def ensure_outbox_connector(settings: Settings) -> str:
    """Create or update this installation's connector (publisher=debezium) or remove it (publisher=relay,
    once it has published what was committed before the switch).

    Returns what was done: "created", "updated", "restarted", "unchanged", "removed" or "absent".

    Raises:
        ConnectorNotOurs: the connector of this installation's name is another installation's.
        PublisherBehind: (relay) Debezium has not published what it owes; nothing was removed.
        ConfigurationError: (code ``connect.config_provider``) no config provider keeps the password out
            of the connector's configuration; nothing was sent.
    """
    if settings.publisher == "debezium":
        check_password_setup(settings)  # before anything is sent
    identity = installation_id(settings)
    names, current = _own(settings, identity)
    if settings.publisher == "relay":
        return "absent" if current is None else _remove(settings, names, wait_caught_up=True)
    wanted = connector_config(settings, names, identity)
    password_changed = store_outbox_password(settings, names.connector)
    with connect(settings, autocommit=True) as conn:
        CdcStore(conn).ensure_publication(names.publication)
    base = _connector_url(settings, names.connector)
    if current is not None:
        current.pop("name", None)
        if current == wanted:
            if password_changed:
                # Same placeholder, new password behind it: the worker resolves it again on a restart.
                _restart(settings, names.connector)
                return "restarted"
            if "FAILED" in task_states(outbox_connector_status(settings, names)):
                # A task dies when Kafka or Postgres was away too long; it resumes from its offsets.
                _restart(settings, names.connector, only_failed=True)
                return "restarted"
            return "unchanged"
        # What a running connector read under its old configuration is published before the new one
        # applies: a new configuration may read a column the rows written before the migration that added
        # it lack (0008's traceparent), which would fail the task on them. (One not running cannot catch
        # up: it gets the new configuration at once, as before.)
        states = task_states(outbox_connector_status(settings, names))
        if len(states) > 1 and all(state == "RUNNING" for state in states):
            _wait_caught_up(settings, names, before="its configuration changes")
    http_json("PUT", f"{base}/config", wanted)
    return "created" if current is None else "updated"


def remove_outbox_connector(settings: Settings) -> str:
    """Delete this installation's connector (never another's), then its slot and publication: for an
    installation that goes away (a benchmark's, a test's). Returns "removed" or "absent"."""
    names, current = _own(settings, installation_id(settings))
    if current is None:
        _drop_slot(settings, names)
        _forget_password(settings, names.connector)
        return "absent"
    return _remove(settings, names, wait_caught_up=False)


def _remove(settings: Settings, names: OutboxNames, *, wait_caught_up: bool) -> str:
    if wait_caught_up:
        _wait_caught_up(settings, names)
    http_json("DELETE", _connector_url(settings, names.connector))
    _drop_slot(settings, names)
    _forget_password(settings, names.connector)
    return "removed"


def _forget_password(settings: Settings, connector: str) -> None:
    """Delete the password file the local worker read for the deleted connector (the operator's own
    placeholder, if any, is theirs to keep)."""
    if settings.connect_password_placeholder is None and settings.connect_url is None:
        outbox_password_file(Layout(settings.home), connector).unlink(missing_ok=True)


def _wait_caught_up(settings: Settings, names: OutboxNames, *,
                    before: str = "the switch to the relay") -> None:
    """Wait until the slot is confirmed past the present position: every event committed before has been
    published (a commit's insert is before the position read after it)."""
    with connect(settings, autocommit=True) as conn:
        store = CdcStore(conn)
        target = store.write_probe()
        deadline = time.monotonic() + _CATCH_UP_S
        while True:
            state = store.slot_state(names.slot)
            if state is None or (state.confirmed is not None and state.confirmed >= target):
                return
            if time.monotonic() > deadline:
                raise PublisherBehind(
                    f"connector {names.connector!r} has not published everything committed before {before} "
                    f"within {_CATCH_UP_S:.0f}s (slot {names.slot} {state.behind_bytes} bytes behind; see "
                    "`automate status`): it was kept as it is. Run `automate migrate` again once it is "
                    "RUNNING")
            time.sleep(0.5)


def _drop_slot(settings: Settings, names: OutboxNames, timeout: float = 30.0) -> None:
    """Drop the slot once its reader (the deleted task) has let go of it, and the publication."""
    with connect(settings, autocommit=True) as conn:
        store = CdcStore(conn)
        deadline = time.monotonic() + timeout
        while (state := store.slot_state(names.slot)) is not None and state.active:
            if time.monotonic() > deadline + 10:
                raise ConnectError(f"replication slot {names.slot} is still read by process "
                                   f"{state.reader_pid} after its connector was deleted; it was kept")
            if time.monotonic() > deadline:
                store.terminate_slot_reader(names.slot)
            time.sleep(0.2)
        if state is not None:
            store.drop_slot(names.slot)
        store.drop_publication(names.publication)


def outbox_connector_status(settings: Settings, names: OutboxNames | None = None) -> dict[str, Any] | None:
    """Connect's status of this installation's connector and its task, or None when it is not registered."""
    name = (names or outbox_names(settings)).connector
    status: dict[str, Any] | None = _get(f"{_connector_url(settings, name)}/status")
    return status
