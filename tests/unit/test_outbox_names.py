"""The names of an installation's Debezium connector, slot and publication (automate.stack.cdc): made of
its topic prefix and database, fitted to what Connect and Postgres accept, distinct for distinct
installations; and which pre-0007 connector counts as this installation's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from automate.config import Settings
from automate.stack.cdc import IDENTITY_KEY, _is_legacy_of, default_names

SLOT = re.compile(r"^[a-z0-9_]{1,63}$")
CONNECTOR = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def _settings(prefix: str, dbname: str, **extra: str) -> Settings:
    fields: dict[str, Any] = {"topic_prefix": prefix,
                              "database_url": f"postgresql://u:p@db.example:5432/{dbname}", **extra}
    return Settings(**fields)


def test_plain_names_are_kept_as_they_are() -> None:
    names = default_names(_settings("automate", "automate"))
    assert (names.connector, names.slot, names.publication) == (
        "automate.outbox.automate", "automate_outbox_automate", "automate_outbox_automate")


@pytest.mark.parametrize(("prefix", "dbname"), [
    ("my-app", "shop"), ("My.App", "Shop"), ("a b", "d%25c"), ("p", "ümlaut"), ("x" * 120, "y" * 63),
])
def test_names_are_sanitised_to_what_connect_and_postgres_accept(prefix: str, dbname: str) -> None:
    names = default_names(_settings(prefix, dbname))
    assert SLOT.fullmatch(names.slot), names.slot
    assert CONNECTOR.fullmatch(names.connector), names.connector


def test_a_long_slot_name_is_cut_to_63_with_a_digest() -> None:
    names = default_names(_settings("tenant-prefix-that-is-long", "a_database_name_that_is_also_quite_long"))
    assert len(names.slot) == 63
    assert names.slot.startswith("tenant_prefix_that_is_long_outbox_a_database_name")
    assert re.fullmatch(r"[a-z0-9_]{54}_[0-9a-f]{8}", names.slot)


@pytest.mark.parametrize(("one", "other"), [
    (("a.b", "db"), ("a_b", "db")),  # sanitised to the same text
    (("App", "db"), ("app", "db")),  # Kafka tells them apart, Postgres slot names are lower case
    (("p", "x" * 63 + "1"), ("p", "x" * 63 + "2")),  # the same first 63 characters
    (("p" * 250, "db1"), ("p" * 250, "db2")),  # connector names past 200 characters
])
def test_distinct_installations_get_distinct_names(one: tuple[str, str], other: tuple[str, str]) -> None:
    a, b = default_names(_settings(*one)), default_names(_settings(*other))
    assert a.slot != b.slot
    assert a.connector != b.connector
    assert SLOT.fullmatch(a.slot) and SLOT.fullmatch(b.slot)
    assert len(a.connector) <= 200 and len(b.connector) <= 200


def test_explicit_names_win() -> None:
    names = default_names(_settings("p", "db", outbox_connector_name="mine", outbox_slot_name="my_slot"))
    assert (names.connector, names.slot) == ("mine", "my_slot")


def test_a_pre_0007_connector_is_this_installations_only_for_its_database_and_prefix() -> None:
    settings = _settings("automate", "shop")
    legacy = {"topic.prefix": "automate", "database.dbname": "shop", "slot.name": "automate_outbox"}
    assert _is_legacy_of(legacy, settings)
    assert not _is_legacy_of({**legacy, "topic.prefix": "other"}, settings)
    assert not _is_legacy_of({**legacy, "database.dbname": "other"}, settings)
    assert not _is_legacy_of({**legacy, IDENTITY_KEY: "pg1.db2/automate"}, settings)  # made after 0007
