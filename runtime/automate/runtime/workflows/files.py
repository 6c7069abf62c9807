"""Reading workflow files (.yaml, .yml, .json) into models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from automate.errors import WorkflowValidationError
from automate.runtime.workflows.limits import MAX_DEPTH, check_definition, check_size, safe_yaml
from automate.runtime.workflows.spec import WorkflowSpec
from automate.runtime.workflows.validation import pydantic_faults

__all__ = ["FILE_SUFFIXES", "definition_files", "load", "load_dir", "read_definition"]

FILE_SUFFIXES: Final = (".yaml", ".yml", ".json")


def read_definition(path: Path) -> Any:
    """The parsed content of a workflow file (.yaml, .yml or .json), not yet validated.

    Raises:
        WorkflowValidationError: The file cannot be read or parsed, or has another suffix (path ``$``).
    """
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise WorkflowValidationError([("$", f"{path.name}: a workflow file ends in .yaml, .yml or .json")])
    try:
        check_size(path.stat().st_size, path.name)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise WorkflowValidationError([("$", f"cannot read {path}: {reason}")]) from exc
    try:
        data = json.loads(text) if suffix == ".json" else safe_yaml(text)
    except RecursionError:
        raise WorkflowValidationError([("$", f"nested deeper than {MAX_DEPTH} levels")]) from None
    except json.JSONDecodeError as exc:
        raise WorkflowValidationError([("$", f"invalid JSON: {exc.msg} (line {exc.lineno}, column "
                                             f"{exc.colno})")]) from exc
    except yaml.YAMLError as exc:
        raise WorkflowValidationError([("$", f"invalid YAML: {' '.join(str(exc).split())}")]) from exc
    check_definition(data)
    return data


def definition_files(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else the workflow files directly inside it, sorted by name."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)
    return [path]


def load(path: Path) -> WorkflowSpec:
    """Read and parse one workflow file; checks its shape, not its actions (see :func:`validate`).

    Raises:
        WorkflowValidationError: Unreadable, unparsable, or not the shape of a workflow.
    """
    data = read_definition(path)
    try:
        return WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise WorkflowValidationError(pydantic_faults(exc)) from None


def load_dir(path: Path) -> list[WorkflowSpec]:
    """Every workflow file directly inside the directory ``path``, by file name."""
    return [load(file) for file in definition_files(path)]
