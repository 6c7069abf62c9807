"""Workflow definitions: the file format (:mod:`.spec`), reading files (:mod:`.files`), checking a
definition completely (:mod:`.validation`), its step graph (:mod:`.graph`) and storing versions
(:mod:`.store`)."""

from __future__ import annotations

from automate.runtime.workflows.files import FILE_SUFFIXES, definition_files, load, load_dir, read_definition
from automate.runtime.workflows.graph import dependents, topological_layers
from automate.runtime.workflows.spec import (
    SLUG_PATTERN,
    STEP_ID_PATTERN,
    RetryPolicy,
    StepSpec,
    TriggerSpec,
    WorkflowSpec,
    digest,
)
from automate.runtime.workflows.validation import validate

__all__ = [
    "FILE_SUFFIXES",
    "SLUG_PATTERN",
    "STEP_ID_PATTERN",
    "RetryPolicy",
    "StepSpec",
    "TriggerSpec",
    "WorkflowSpec",
    "definition_files",
    "dependents",
    "digest",
    "load",
    "load_dir",
    "read_definition",
    "topological_layers",
    "validate",
]
