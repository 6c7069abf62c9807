"""Shared fixtures: the settings, the real local stack, and a fresh database per test cloned from a
migrated template (cheap isolation against the real Postgres)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings

from automate.config import Settings, get_settings
from automate.db import dsn_of_database, migrate, set_publisher
from automate.db.admin import DatabaseAdmin
from automate.transport import delete_topics

TEMPLATE_DB = "automate_test_template"

# CI explores the same examples every run (a failure there reproduces); local runs explore new ones.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Settings:
    """The whole local stack, started if it is not running yet (make test starts it beforehand)."""
    from automate.stack import Stack

    Stack(settings).up()
    return settings


@pytest.fixture(scope="session")
def pg(settings: Settings) -> Settings:
    """Just PostgreSQL, for tests that need nothing else."""
    from automate.stack import Stack

    Stack(settings).up(["postgres"])
    return settings


@contextmanager
def _admin(settings: Settings) -> Iterator[DatabaseAdmin]:
    with psycopg.connect(settings.dsn, autocommit=True) as conn:
        yield DatabaseAdmin(conn)


@pytest.fixture(scope="session")
def template_db(stack: Settings) -> str:
    """A migrated database with the contracts' schema ids cached, cloned by `db_settings`."""
    from automate.registry import register_contracts

    with _admin(stack) as admin:
        admin.drop(TEMPLATE_DB)
        admin.create(TEMPLATE_DB)
    with psycopg.connect(dsn_of_database(stack, TEMPLATE_DB)) as conn:
        migrate(conn)
        set_publisher(conn, "relay")
        register_contracts(stack, conn)
    return TEMPLATE_DB


@contextmanager
def fresh_database(stack: Settings, template_db: str) -> Iterator[Settings]:
    """Settings for a fresh, migrated database of its own, publishing through the relay to topics of its
    own (prefix ``t<random>``, its core topics created); dropped with its topics on exit."""
    from automate.topics import core_topics, ensure_topics

    name = f"automate_test_{uuid.uuid4().hex[:12]}"
    with _admin(stack) as admin:
        admin.create(name, template=template_db)
    settings = Settings(**{**stack.model_dump(), "database_url": dsn_of_database(stack, name),
                           "publisher": "relay", "topic_prefix": f"t{uuid.uuid4().hex[:10]}"})
    ensure_topics(settings, core_topics(settings), partitions=3)
    try:
        yield settings
    finally:
        from automate.db.context import close_pools

        close_pools(settings)
        delete_topics(settings, settings.topic_prefix + ".")
        with _admin(stack) as admin:
            admin.drop(name)


@pytest.fixture
def db_settings(stack: Settings, template_db: str) -> Iterator[Settings]:
    """A fresh database and topics of the test's own (:func:`fresh_database`)."""
    with fresh_database(stack, template_db) as settings:
        yield settings



@pytest.fixture
def make_empty_db(pg: Settings) -> Iterator[Callable[[], str]]:
    """Makes new, empty databases (for migration tests); returns their libpq URLs; drops them after."""
    made: list[str] = []

    def make() -> str:
        name = f"automate_empty_{uuid.uuid4().hex[:12]}"
        with _admin(pg) as admin:
            admin.create(name)
        made.append(name)
        return dsn_of_database(pg, name)

    yield make
    with _admin(pg) as admin:
        for name in made:
            admin.drop(name)


@pytest.fixture
def empty_db(make_empty_db: Callable[[], str]) -> str:
    """A libpq URL of a new, empty database."""
    return make_empty_db()


@pytest.fixture
def connector_settings(db_settings: Settings) -> Iterator[Settings]:
    """The test's database as tenant ``acme``, loopback allowed for the HTTP-based connectors' peers."""
    from automate.db.context import close_pools

    settings = Settings(**{**db_settings.model_dump(), "tenant": "acme", "http_allowlist": ("127.0.0.1/32",)})
    yield settings
    close_pools(settings)
