"""The public names of each package, pinned (SEED-API.md import paths are public API)."""

from __future__ import annotations

import importlib

import pytest

EXPECTED = {
    "automate.events": {
        "emit_event", "aemit_event", "run_workflow", "arun_workflow", "transaction", "atransaction",
        "EventError", "InvalidEventType", "PayloadNotSerializable", "PayloadTooLarge", "SchemaNotRegistered",
        "SchemaViolation", "UnknownEventType", "UnknownWorkflow",
    },
    "automate_core.outbox": {"OutboxItem", "OutboxReaper", "OutboxStore", "SkipLockedClaimOutboxStore"},
    "automate.db": {"Migration", "applied_versions", "connect", "current_publisher", "dsn_of_database",
                    "load_migrations", "migrate", "schema_sql", "set_publisher"},
    "automate.models": {"Automation", "DoesNotExist", "Execution", "MultipleObjectsReturned", "StepRun",
                        "Workflow"},
    "automate.runtime": {"Runtime"},
    "automate.runtime.actions": {"Action", "ActionContext", "ActionRegistry", "UnknownAction",
                                 "builtin_actions", "is_pure", "registry"},
    "automate.stack": {"MissingDependencyError", "PortInUseError", "ServiceStartError", "ServiceStatus",
                       "Stack", "StackError"},
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_exported_members(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == EXPECTED[module]
    for name in mod.__all__:
        assert getattr(mod, name) is not None


def test_seed_import_paths() -> None:
    from automate.events import emit_event, run_workflow
    from automate_core.outbox import OutboxReaper, OutboxStore
    from automate_core.outbox.reaper import OutboxReaper as Reaper
    from automate_core.outbox.store import SkipLockedClaimOutboxStore

    assert callable(emit_event) and callable(run_workflow)
    assert Reaper is OutboxReaper and OutboxStore is not None
    assert SkipLockedClaimOutboxStore(lease_seconds=300).lease_seconds == 300
    assert OutboxReaper(stale_threshold_seconds=600).stale_threshold_seconds == 600


def test_producer_library_imports_no_stream_or_runtime_code() -> None:
    import subprocess
    import sys

    code = (
        "import sys, automate.events, automate_core.outbox\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('faust', 'confluent_kafka', 'openai', 'jinja2')"
        " or m.startswith(('automate.runtime', 'automate.processors', 'automate.rules', 'automate.cli'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
