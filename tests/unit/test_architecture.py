"""The shape of the code, held to what docs/architecture.md says of it: the rooms and what each may
import, one error tree, one Kafka transport, SQL only in the stores, modules of a readable size."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from automate.errors import AutomateError, ErrorCodes

REPO = Path(__file__).resolve().parents[2]
ROOMS = ("core", "producers", "rules", "processors", "connectors", "llm", "rag", "runtime", "ops")
ARCHITECTURE = REPO / "docs" / "architecture.md"
MAX_LINES = 500

# Modules whose job is to talk SQL: the stores (with their named queries) and the layers under them.
STORES = {
    "automate.db.admin", "automate.db.cdc", "automate.db.executions", "automate.db.migrations",
    "automate.db.queries", "automate.db.schemas", "automate.db.store", "automate.db.workflows",
    "automate.models.base", "automate.models.entities", "automate.runtime.state",
    "automate_core.outbox.reaper", "automate_core.outbox.store", "automate_core.outbox.writer",
}
# Who may import the Kafka client library: the transport, and `automate smoke`, which exists to prove
# the stack with the official registry serializer.
KAFKA_CLIENT = {"automate.transport", "automate.cli.smoke"}
_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|WITH|LISTEN|NOTIFY|VACUUM|BEGIN|"
                  r"COMMIT|TRUNCATE)\s")


@dataclass(frozen=True)
class Module:
    name: str
    room: str
    path: Path

    @property
    def tree(self) -> ast.Module:
        return ast.parse(self.path.read_text(encoding="utf-8"), str(self.path))


def _modules() -> list[Module]:
    found = []
    for room in ROOMS:
        for path in sorted((REPO / room).rglob("*.py")):
            parts = list(path.relative_to(REPO / room).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append(Module(".".join(parts), room, path))
    return found


MODULES = _modules()
BY_NAME = {m.name: m for m in MODULES}


def _room_of(imported: str) -> str | None:
    """The room of an imported module (or of the module a name is imported from); None: not ours."""
    name = imported
    while name:
        if name in BY_NAME:
            return BY_NAME[name].room
        name = name.rpartition(".")[0]
    return None


def _imports(module: Module) -> Iterator[tuple[int, str]]:
    """(line, module) of every import, including those inside functions; ``from a import b`` counts as
    ``a.b`` (a submodule or a name of ``a``: :func:`_room_of` finds which)."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _allowed_imports() -> dict[str, set[str]]:
    """The table "rooms" of docs/architecture.md: room -> the rooms it may import."""
    rows = re.findall(r"^\| `(\w+)/` \|[^|]*\| ([^|]*) \|$", ARCHITECTURE.read_text(), re.M)
    return {room: {r for r in re.findall(r"`(\w+)`", may)} | {room} for room, may in rows}


def test_the_architecture_doc_names_every_room() -> None:
    assert set(_allowed_imports()) == set(ROOMS)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_a_module_imports_only_the_rooms_its_room_may(module: Module) -> None:
    allowed = _allowed_imports()[module.room]
    wrong = [f"line {line}: {name} ({_room_of(name)}/)" for line, name in _imports(module)
             if _room_of(name) not in (None, *allowed)]
    assert not wrong, f"{module.name} ({module.room}/) may import only {sorted(allowed)}: {wrong}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_only_the_transport_imports_the_kafka_client(module: Module) -> None:
    if module.name in KAFKA_CLIENT:
        return
    wrong = [line for line, name in _imports(module) if name.split(".")[0] == "confluent_kafka"]
    assert not wrong, f"{module.name} imports confluent_kafka (lines {wrong}); use automate.transport"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_sql_lives_in_the_stores(module: Module) -> None:
    if module.name in STORES:
        return
    queries = [line for line, name in _imports(module) if name == "automate.db.queries.query"]
    assert not queries, f"{module.name} names queries itself (lines {queries}); add a store method"
    tree = module.tree
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    literals = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Constant)
                and isinstance(node.value, str) and id(node) not in docstrings and _SQL.match(node.value)]
    assert not literals, f"{module.name} has SQL in its code (lines {literals}); add a store method"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_modules_stay_readable(module: Module) -> None:
    lines = len(module.path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module.path.relative_to(REPO)} has {lines} lines; split it by concern"


# --- one error tree -------------------------------------------------------------------------------------


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in MODULES:
        if module.name.endswith("__main__"):
            continue
        loaded = importlib.import_module(module.name)
        for _name, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == loaded.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def test_every_exception_class_derives_from_automate_error() -> None:
    classes = _exception_classes()
    assert len(classes) > 40
    outside = [f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, AutomateError)]
    assert not outside, f"not under AutomateError: {outside}"


def _drawn_tree(text: str) -> dict[str, str | None]:
    """Class name -> its parent's name, from a tree drawn with ├── and └── (four columns a level)."""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    for line in text.splitlines():
        found = re.match(r"^(?P<indent>[│ ]*)(?:[├└]── )?(?P<name>[A-Z]\w+)\s", line + " ")
        if not found or ("──" not in line and path):
            continue
        depth = len(found["indent"]) // 4 + (1 if "──" in line else 0)
        del path[depth:]
        parents[found["name"]] = path[-1] if path else None
        path.append(found["name"])
    return parents


def _tree_block(text: str) -> str:
    block = re.search(r"^[ ]*AutomateError .*?(?=\n[ ]*\n|\n```|\Z)", text, re.S | re.M)
    assert block is not None, "no tree starting with AutomateError"
    return "\n".join(line.rstrip() for line in textwrap.dedent(block.group(0)).splitlines())


def test_the_drawn_error_tree_is_the_real_one() -> None:
    import automate.errors

    drawn = _drawn_tree(_tree_block(automate.errors.__doc__ or ""))
    real: dict[str, str | None] = {}
    for cls in [AutomateError, *_exception_classes()]:
        if cls.__name__.startswith("_") or "." in cls.__qualname__:
            continue  # private control flow, and the per-model DoesNotExist
        parent = next((b for b in cls.__bases__ if issubclass(b, AutomateError)), None)
        real[cls.__name__] = parent.__name__ if parent is not None else None
    assert drawn == real


def test_the_architecture_doc_draws_the_same_tree() -> None:
    import automate.errors

    assert _tree_block(ARCHITECTURE.read_text()) == _tree_block(automate.errors.__doc__ or "")


def test_every_error_code_is_one_of_error_codes() -> None:
    codes = set(ErrorCodes)
    wrong = {f"{c.__module__}.{c.__qualname__}": c.code for c in _exception_classes()
             if issubclass(c, AutomateError) and c.code not in codes}
    assert not wrong


ERROR_NAMES = {cls.__name__ for cls in _exception_classes()} | {"AutomateError"}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_codes_are_named_not_spelled(module: Module) -> None:
    """A code is ErrorCodes.X in the code, never a string literal (one enumeration of codes): not as
    ``code=``, not as the first of an error's two arguments, not as a ``"code"`` of a dict."""
    if module.name.startswith("automate.errors"):
        return
    spelled = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(node.value, ast.Constant):
            spelled.append(node.value.lineno)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ERROR_NAMES
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)):
            spelled.append(node.lineno)
        if isinstance(node, ast.Dict):
            spelled += [v.lineno for k, v in zip(node.keys, node.values, strict=True)
                        if isinstance(k, ast.Constant) and k.value == "code" and isinstance(v, ast.Constant)]
    assert not spelled, f"{module.name} spells error codes as strings (lines {spelled}); use ErrorCodes"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_no_builtin_exception_is_raised_on_purpose(module: Module) -> None:
    # (SystemExit and KeyboardInterrupt are how a command exits and how Ctrl-C arrives, not errors.)
    builtin = {name for name in dir(builtins) if isinstance(getattr(builtins, name), type)
               and issubclass(getattr(builtins, name), Exception)}
    raised = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name) and target.id in builtin:
                raised.append(f"line {node.lineno}: {target.id}")
    assert not raised, f"{module.name} raises builtins ({raised}); raise an error of automate.errors"


def test_the_root_takes_the_seeds_code_and_message() -> None:
    import pickle

    error = AutomateError(ErrorCodes.INTERNAL, "boom")
    assert (error.code, error.message, str(error), error.retryable) == ("internal", "boom", "boom", False)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.code, again.message) == (AutomateError, "internal", "boom")
    plain = AutomateError("no code given")
    assert (plain.code, plain.message) == (ErrorCodes.INTERNAL, "no code given")
