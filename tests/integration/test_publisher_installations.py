"""Installations side by side on one Kafka Connect and one Postgres server: each its own connector, slot
and publication, its events on its own topics only; a switch to the relay removes only its own; a name
that collides with another installation's connector is refused and the other left as it was."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from automate.config import Settings
from automate.db import set_publisher
from automate.db.cdc import CdcStore
from automate.errors import ConnectorNotOurs
from automate.stack.base import http_json
from automate.stack.cdc import (
    IDENTITY_KEY,
    LEGACY_CONNECTOR,
    OutboxNames,
    connector_config,
    default_names,
    ensure_outbox_connector,
    installation_id,
    outbox_names,
    remove_outbox_connector,
)
from automate.stack.credentials import store_outbox_password
from tests.integration.publisher_support import (
    connector_config as config_of,
)
from tests.integration.publisher_support import (
    debezium_installation,
    emit,
    publication_exists,
    published_ids,
    slot_state,
    states,
    wait_publishing,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pair(stack: Settings, template_db: str) -> Iterator[tuple[Settings, Settings]]:
    """Two installations publishing through Debezium (the tests below run in order: the last one switches
    the first to the relay)."""
    with debezium_installation(stack, template_db) as a, debezium_installation(stack, template_db) as b:
        assert ensure_outbox_connector(a) == "created"
        assert ensure_outbox_connector(b) == "created"
        wait_publishing(a)
        wait_publishing(b)
        yield a, b


@pytest.fixture(scope="module")
def stack_connector(stack: Settings) -> Iterator[tuple[str, dict[str, object] | None]]:
    """The stack's own installation's connector and its configuration, the same after these tests."""
    name = outbox_names(stack).connector
    before = config_of(stack, name)
    yield name, before
    assert config_of(stack, name) == before


def test_each_installation_has_its_own_connector_slot_and_topics(
        pair: tuple[Settings, Settings], stack_connector: tuple[str, object]) -> None:
    a, b = pair
    names_a, names_b = default_names(a), default_names(b)
    assert len({names_a.connector, names_b.connector, stack_connector[0]}) == 3
    assert names_a.slot != names_b.slot
    dbname = psycopg.conninfo.conninfo_to_dict(a.dsn)["dbname"]
    assert names_a.connector == f"{a.topic_prefix}.outbox.{dbname}"
    for settings, names in ((a, names_a), (b, names_b)):
        assert outbox_names(settings) == names
        config = config_of(settings, names.connector)
        assert config is not None
        assert config[IDENTITY_KEY] == installation_id(settings)
        assert (config["slot.name"], config["publication.name"]) == (names.slot, names.publication)
        assert config["topic.prefix"] == settings.topic_prefix
        assert states(settings) == ["RUNNING", "RUNNING"]
        assert publication_exists(settings, names.publication)
    assert installation_id(a) != installation_id(b)

    from_a, from_b = emit(a), emit(b)
    on_a, on_b = published_ids(a, from_a), published_ids(b, from_b)
    assert from_a <= on_a and not from_b & on_a  # each on its own topic, and only there
    assert from_b <= on_b and not from_a & on_b


def test_the_stack_connector_is_adopted_not_renamed(
        stack: Settings, stack_connector: tuple[str, dict[str, object] | None]) -> None:
    """The stack's own installation: its connector (whatever its name, the legacy one adopted or its own)
    carries its identity (read only: the shared stack is never changed here)."""
    name, config = stack_connector
    assert config is not None
    assert config.get(IDENTITY_KEY) == installation_id(stack)
    assert name in (LEGACY_CONNECTOR, default_names(stack).connector)


def test_migrating_again_is_unchanged(pair: tuple[Settings, Settings]) -> None:
    a, b = pair
    assert ensure_outbox_connector(a) == "unchanged"
    assert ensure_outbox_connector(b) == "unchanged"


def test_a_colliding_name_is_refused_and_the_other_left_alone(pair: tuple[Settings, Settings]) -> None:
    a, b = pair
    theirs = default_names(b)
    before = config_of(b, theirs.connector)
    for publisher in ("debezium", "relay"):
        intruder = Settings(**{**a.model_dump(), "publisher": publisher,
                               "outbox_connector_name": theirs.connector})
        with pytest.raises(ConnectorNotOurs) as refused:
            ensure_outbox_connector(intruder)
        assert refused.value.code == "connect.not_ours"
        assert theirs.connector in str(refused.value)
        assert "AUTOMATE_OUTBOX_CONNECTOR_NAME" in str(refused.value)
        with pytest.raises(ConnectorNotOurs):
            remove_outbox_connector(intruder)
    assert config_of(b, theirs.connector) == before
    assert states(b) == ["RUNNING", "RUNNING"]
    state = slot_state(b, theirs.slot)
    assert state is not None and state.active
    assert publication_exists(b, theirs.publication)
    assert ensure_outbox_connector(a) == "unchanged"  # its own, untouched too


def test_a_legacy_shaped_connector_under_another_name_is_not_adopted(stack: Settings,
                                                                     template_db: str) -> None:
    """A connector without the identity key is adopted only under the pre-0007 name (``automate-outbox``,
    which the stack's own installation holds, so that adoption is not exercised here): under any other
    name it is another's, refused and left alone."""
    with debezium_installation(stack, template_db) as c:
        names = default_names(c)
        legacy = connector_config(c, names)  # the shape of a pre-0007 connector: no identity
        assert IDENTITY_KEY not in legacy
        other = f"{names.connector}.legacy"
        store_outbox_password(c, names.connector)  # what its placeholder reads
        http_json("PUT", f"{c.connect_base_url}/connectors/{other}/config", legacy)
        try:
            with pytest.raises(ConnectorNotOurs):
                ensure_outbox_connector(Settings(**{**c.model_dump(), "outbox_connector_name": other}))
            assert config_of(c, other) == {**legacy, "name": other}
        finally:
            http_json("DELETE", f"{c.connect_base_url}/connectors/{other}")


def test_switching_one_to_the_relay_removes_only_its_own(pair: tuple[Settings, Settings]) -> None:
    a, b = pair
    names_a, names_b = default_names(a), default_names(b)
    with psycopg.connect(a.dsn) as conn:  # as `automate migrate` does: the binding, then the connector
        set_publisher(conn, "relay")
    relay = Settings(**{**a.model_dump(), "publisher": "relay"})
    assert ensure_outbox_connector(relay) == "removed"
    assert config_of_or_none(a, names_a.connector) is None
    assert slot_state(a, names_a.slot) is None
    assert not publication_exists(a, names_a.publication)
    assert ensure_outbox_connector(relay) == "absent"

    assert states(b) == ["RUNNING", "RUNNING"]
    assert publication_exists(b, names_b.publication)
    from_b = emit(b)
    assert from_b <= published_ids(b, from_b)


def config_of_or_none(settings: Settings, name: str) -> dict[str, object] | None:
    from automate.errors import StackError

    try:
        return config_of(settings, name)
    except StackError as exc:
        assert "answered 404" in str(exc)
        return None


def test_a_pre_0007_connector_is_adopted_with_its_slot_and_registered_again_when_lost(
        stack: Settings, template_db: str) -> None:
    """A connector of the pre-0007 name and shape (no identity, slot ``<prefix>_outbox``) reading this
    database for this prefix is adopted with its slot; when Connect loses it, it is registered again under
    that name and slot, so the events committed meanwhile are published."""
    if LEGACY_CONNECTOR in http_json("GET", f"{stack.connect_base_url}/connectors"):
        pytest.skip(f"{LEGACY_CONNECTOR!r} is taken (the stack's own pre-0007 connector): adopting another "
                    "under that name would touch the shared stack")
    with debezium_installation(stack, template_db) as c:
        legacy = OutboxNames(LEGACY_CONNECTOR, f"{c.topic_prefix}_outbox")
        old_shape = connector_config(c, legacy)  # as a version before 0007 registered it: no identity
        assert IDENTITY_KEY not in old_shape
        store_outbox_password(c, LEGACY_CONNECTOR)
        with psycopg.connect(c.dsn, autocommit=True) as conn:
            CdcStore(conn).ensure_publication(legacy.publication)
        url = f"{c.connect_base_url}/connectors/{LEGACY_CONNECTOR}"
        http_json("PUT", f"{url}/config", old_shape)
        try:
            wait_publishing(c, names=legacy)
            assert outbox_names(c) == legacy
            assert ensure_outbox_connector(c) == "updated"  # its identity added, its slot kept
            adopted = config_of(c, LEGACY_CONNECTOR)
            assert adopted is not None and adopted[IDENTITY_KEY] == installation_id(c)
            assert adopted["slot.name"] == legacy.slot
            wait_publishing(c, names=legacy)
            first = emit(c)
            assert first <= published_ids(c, first)

            http_json("DELETE", url)  # as a standalone worker that restarted forgets it
            meanwhile = emit(c)
            assert outbox_names(c) == legacy
            assert ensure_outbox_connector(c) == "created"
            assert config_of(c, LEGACY_CONNECTOR)["slot.name"] == legacy.slot  # type: ignore[index]
            assert slot_state(c, default_names(c).slot) is None  # no second slot
            assert meanwhile <= published_ids(c, meanwhile)
        finally:
            assert remove_outbox_connector(c) == "removed"
        assert slot_state(c, legacy.slot) is None
        assert not publication_exists(c, legacy.publication)
