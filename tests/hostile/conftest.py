"""The hostile-input suite: each module runs its cases through one live pipeline of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from automate.config import Settings
from tests.conftest import fresh_database
from tests.hostile.pipeline import LivePipeline


@pytest.fixture(scope="module")
def live(stack: Settings, template_db: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePipeline]:
    """Worker processes on a database and topics of the module's own; stopped after its last case."""
    with fresh_database(stack, template_db) as settings:
        pipeline = LivePipeline(settings, Path(tmp_path_factory.mktemp("hostile-logs")))
        with pipeline.workers:
            yield pipeline
