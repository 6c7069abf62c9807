"""The step graph of a workflow, for the engine and the tools that reason about it."""

from __future__ import annotations

from automate.errors import WorkflowValidationError
from automate.runtime.workflows.spec import WorkflowSpec

__all__ = ["dependents", "topological_layers"]


def topological_layers(spec: WorkflowSpec) -> list[list[str]]:
    """Step ids in layers: each layer needs only earlier layers; file order within a layer.

    Raises:
        WorkflowValidationError: The needs form a cycle or name an unknown step (unvalidated input).
    """
    remaining = {step.id: set(step.needs) for step in spec.steps}
    unknown = sorted({need for needs in remaining.values() for need in needs} - remaining.keys())
    if unknown:
        raise WorkflowValidationError([("$.steps", f"unknown step(s) in needs: {', '.join(unknown)}")])
    done: set[str] = set()
    layers: list[list[str]] = []
    while remaining:
        layer = [step_id for step_id, needs in remaining.items() if needs <= done]
        if not layer:
            raise WorkflowValidationError([("$.steps", f"dependency cycle among {', '.join(remaining)}")])
        layers.append(layer)
        done.update(layer)
        for step_id in layer:
            del remaining[step_id]
    return layers


def dependents(spec: WorkflowSpec) -> dict[str, list[str]]:
    """For every step id, the steps that need it directly (file order); [] for the last steps."""
    result: dict[str, list[str]] = {step.id: [] for step in spec.steps}
    for step in spec.steps:
        for need in step.needs:
            if need in result:
                result[need].append(step.id)
    return result
