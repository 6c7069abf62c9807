"""How big a workflow definition may be, checked before anything parses deeper or stores it.

A definition crosses a boundary (a file an operator applies, a dict handed to ``validate``): a file's
size, a definition's nesting and its step count are bounded, and YAML aliases are refused, since a few
lines of them expand to billions of nodes once anything walks the document ("billion laughs"). Exceeding
a limit is a ``WorkflowValidationError`` like any other fault, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import yaml

from automate.errors import WorkflowValidationError

__all__ = ["MAX_DEFINITION_BYTES", "MAX_DEPTH", "MAX_STEPS", "check_definition", "safe_yaml"]

MAX_DEFINITION_BYTES: Final = 1024 * 1024  # a workflow file
MAX_DEPTH: Final = 64  # nested objects and lists
MAX_STEPS: Final = 5000


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases (``*name``): each would share, then multiply, a subtree."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event: Any = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not allowed in a workflow",
                                              event.start_mark)
        return super().compose_node(parent, index)


def safe_yaml(text: str) -> Any:
    """The YAML document ``text``, without aliases.

    Raises:
        yaml.YAMLError: Not YAML, or it uses an alias.
        RecursionError: Nested deeper than the parser goes.
    """
    return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass


def check_size(size: int, what: str) -> None:
    if size > MAX_DEFINITION_BYTES:
        raise WorkflowValidationError([("$", f"{what} is {size} bytes, above the limit of "
                                             f"{MAX_DEFINITION_BYTES} bytes")])


def check_definition(data: Any) -> None:
    """Refuse a parsed definition nested deeper than ``MAX_DEPTH`` or with more than ``MAX_STEPS`` steps.

    Raises:
        WorkflowValidationError: Naming the limit and where it was exceeded.
    """
    stack: list[tuple[Any, str, int]] = [(data, "$", 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise WorkflowValidationError([(where, f"nested deeper than {MAX_DEPTH} levels")])
        if isinstance(item, Mapping):
            stack.extend((value, f"{where}.{key}", depth + 1) for key, value in item.items())
        elif isinstance(item, list):
            stack.extend((value, f"{where}[{i}]", depth + 1) for i, value in enumerate(item))
    steps = data.get("steps") if isinstance(data, Mapping) else None
    if isinstance(steps, list) and len(steps) > MAX_STEPS:
        raise WorkflowValidationError([("$.steps", f"{len(steps)} steps, above the limit of {MAX_STEPS}")])
