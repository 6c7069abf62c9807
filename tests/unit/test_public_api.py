"""The public surface, pinned: each package's names (the documented import paths are public API), ``__all__``
in every module, and what the wheel ships (``py.typed`` in every package, the SQL, the contracts)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOMS = ("core", "producers", "rules", "processors", "connectors", "llm", "rag", "runtime", "ops")

EXPECTED = {
    "automate.errors": {
        "RETRYABLE_CODES", "AutomateError", "CheckFailed", "ConfigurationError", "ConnectError",
        "ConnectorNotOurs", "PublisherBehind",
        "ConnectorError", "DatabaseError", "DoesNotExist", "InvalidSecretReference", "SecretAccessDenied",
        "SecretError", "SecretNotFoundError", "ErrorCodes", "EvaluationDepthError", "EventError",
        "ExecutionError", "InvalidArgumentsError", "InvalidDataError", "InvalidEventType",
        "InvalidOperandError", "MigrationError", "MissingDependencyError", "ModelError",
        "MultipleObjectsReturned", "NaNError", "NoLiveVersion", "NonJsonRuleError", "OperatorError",
        "OutputError", "PayloadNotSerializable", "PayloadTooLarge", "PortInUseError", "RecordError",
        "RegistryError", "RuleError", "RuleEvaluationError", "RuleTooComplexError", "RuleValidationError",
        "SchemaNotRegistered", "SchemaViolation", "ServiceError", "ServiceStartError", "StackError",
        "StepError", "StepFailure", "StepTimeout", "TemplateError", "ThrownError", "TransportError",
        "UnknownAction", "UnknownEventType", "UnknownOperatorError", "UnknownWorkflow", "UsageError",
        "WorkflowValidationError", "http_status_code", "TenantMismatch", "WorkflowSlugTaken",
        "LlmBudgetExceeded", "LlmContextExceeded", "LlmError", "LlmKeyMissing", "LlmOutputInvalid",
        "LlmRequestRefused", "LlmUnavailable", "UnknownModel", "UnknownProvider",
        "RagDimensionMismatch", "RagDocumentInvalid", "RagEndpointInvalid", "RagEndpointNotFound", "RagError",
        "RagFilterInvalid", "RagUnavailable", "RuleLimitError", "TemplateLimitError",
    },
    "automate.db": {"Migration", "applied_versions", "connect", "current_publisher", "dsn_of_database",
                    "load_migrations", "migrate", "schema_sql", "set_publisher"},
    "automate.db.migrations": {"Migration", "applied_versions", "current_publisher", "load_migrations",
                               "migrate", "schema_sql", "set_publisher"},
    "automate.db.queries": {"array_literal", "query"},
    "automate_core": set(),
    "automate_core.outbox": {"OutboxItem", "OutboxReaper", "OutboxStore", "SkipLockedClaimOutboxStore"},
    "automate.events": {
        "emit_event", "aemit_event", "run_workflow", "arun_workflow", "transaction", "atransaction",
        "EventError", "InvalidEventType", "PayloadNotSerializable", "PayloadTooLarge", "SchemaNotRegistered",
        "SchemaViolation", "UnknownEventType", "UnknownWorkflow",
    },
    "automate.models": {"Automation", "DoesNotExist", "Execution", "MultipleObjectsReturned", "StepRun",
                        "Workflow"},
    "automate.rules": {
        "CacheInfo", "CompiledRule", "EvaluationDepthError", "ExplainNode", "Explanation",
        "InvalidArgumentsError", "InvalidDataError", "InvalidOperandError", "NaNError", "NonJsonRuleError",
        "OperatorError", "RuleEngine", "RuleError", "RuleEvaluationError", "RuleLimitError", "RuleLimits",
        "RuleTooComplexError", "RuleValidationError", "ThrownError", "UnknownOperatorError", "apply",
        "compile_rule", "default_engine", "evaluate", "explain", "register_operator", "unregister_operator",
    },
    "automate.processors": {"Candidate", "ConfigWatcher", "EventSchemas", "ProcessorWorker", "Request",
                            "Routed", "Router", "Target", "TriggerIndex", "TriggerRow", "load_index",
                            "matching_targets", "run_processors"},
    "automate.secrets": {"InvalidSecretReference", "Reader", "Redactor", "Reference", "SecretAccessDenied",
                         "SecretError", "SecretNotFoundError", "SecretRef", "parse_reference",
                         "references_in", "resolve", "resolve_in"},
    "automate.secrets.backends": {"BACKENDS", "Backend"},
    "automate_connectors": {"ActionContext", "ActionSpec", "AutomateError", "Connector", "ErrorCodes",
                            "RateLimit", "TriggerSpec", "registry"},
    "automate_connectors.builtin": {"BUILTIN"},
    "automate.runtime": {"Runtime"},
    "automate.runtime.actions": {"Action", "ActionContext", "ActionRegistry", "ConnectorAction",
                                 "UnknownAction", "builtin_actions", "is_pure", "registry"},
    "automate.runtime.workflows": {"FILE_SUFFIXES", "RetryPolicy", "SLUG_PATTERN", "STEP_ID_PATTERN",
                                   "StepSpec", "TriggerSpec", "WorkflowSpec", "definition_files",
                                   "dependents", "digest", "load", "load_dir", "read_definition",
                                   "topological_layers", "validate"},
    "automate.stack": {"MissingDependencyError", "PortInUseError", "ServiceStartError", "ServiceStatus",
                       "Stack", "StackError"},
    "automate.stack.services": {"SERVICES"},
    "automate.cli": {"cli", "main"},
    "automate_llm": {"PROVIDERS", "Budget", "ChatResult", "LLMProvider", "achat", "acomplete", "astream",
                     "chat", "complete", "count_tokens", "delete_budget", "get_provider", "list_budgets",
                     "set_budget", "stream", "usage"},
    "automate_llm.providers": {"PROVIDERS", "backend"},
    "rag": {"Endpoint", "EndpointStats", "create_endpoint", "delete_documents", "delete_endpoint",
            "describe_endpoint", "get_endpoint", "index_documents", "list_endpoints", "query"},
    "rag.embedders": {"EMBEDDER_MODULES", "KEY_TTL_S", "Embedder", "check_vectors", "clear_embedders",
                      "embedder_for"},
    "rag.stores": {"STORE_MODULES", "Chunk", "Hit", "StoreStats", "VectorStore", "clear_stores",
                   "forget_store", "open_store", "tenant_folder"},
    "automate.demo": {"DemoEvent", "Expectations", "Outcome", "generate_events", "load_workflows",
                      "preflight", "run_demo"},
}


def _package_dirs() -> dict[str, Path]:
    found = {}
    for room in ROOMS:
        for init in (REPO / room).rglob("__init__.py"):
            found[".".join(init.parent.relative_to(REPO / room).parts)] = init.parent
    return found


PACKAGES = _package_dirs()


def test_every_package_is_pinned() -> None:
    assert set(PACKAGES) == set(EXPECTED)


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_exported_members(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == EXPECTED[module]
    for name in mod.__all__:
        assert getattr(mod, name) is not None


@pytest.mark.parametrize("path", sorted(p for room in ROOMS for p in (REPO / room).rglob("*.py")
                                        if p.name != "__main__.py"), ids=lambda p: p.name)
def test_every_module_states_its_public_names(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assigned = [node for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
                and any(isinstance(t, ast.Name) and t.id == "__all__"
                        for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))]
    assert assigned, f"{path.relative_to(REPO)} has no __all__"


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_package_is_marked_typed(package: str) -> None:
    assert (PACKAGES[package] / "py.typed").is_file()


def test_the_wheel_ships_typed_packages_their_sql_and_the_contracts(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("automate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "automate/py.typed" in names  # the namespace's top-level modules (automate.config...)
    for package in PACKAGES:
        assert f"{package.replace('.', '/')}/py.typed" in names, package
    sources = {str(p.relative_to(REPO / room)) for room in ROOMS for p in (REPO / room).rglob("*")
               if p.suffix in (".py", ".sql")}
    assert sources <= names
    assert {"automate_data/schemas/automate/DeadLetter.avsc", "automate_data/infra/kafka/pom.xml"} <= names
    assert not [n for n in names if n.startswith("tests/")]


def test_seed_import_paths() -> None:
    from automate.errors import AutomateError, ErrorCodes
    from automate.events import emit_event, run_workflow
    from automate.rules import compile_rule, evaluate
    from automate.runtime import Runtime
    from automate_core.outbox import OutboxReaper, OutboxStore
    from automate_core.outbox.reaper import OutboxReaper as Reaper
    from automate_core.outbox.store import SkipLockedClaimOutboxStore

    assert callable(emit_event) and callable(run_workflow) and callable(Runtime)
    assert evaluate({">=": [{"var": "amount"}, 100]}, {"amount": 150}) is True
    assert compile_rule({">=": [{"var": "score"}, 80]}).evaluate({"score": 79}) is False
    assert Reaper is OutboxReaper and OutboxStore is not None
    assert SkipLockedClaimOutboxStore(lease_seconds=300).lease_seconds == 300
    assert OutboxReaper(stale_threshold_seconds=600).stale_threshold_seconds == 600
    assert AutomateError(ErrorCodes.INTERNAL, "boom").code == "internal"


def test_producer_library_imports_no_stream_or_runtime_code() -> None:
    code = (
        "import sys, automate.events, automate_core.outbox\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('faust', 'confluent_kafka', 'openai', 'jinja2')"
        " or m.startswith(('automate.runtime', 'automate.processors', 'automate.rules', 'automate.cli',"
        " 'automate.transport'))]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
