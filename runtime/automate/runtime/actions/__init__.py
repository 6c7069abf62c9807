"""Step actions: the :class:`Action` protocol and the registry the runtime looks action names up in.

``registry`` holds the built-ins (``core.log``, ``core.transform``, ``core.fail``, ``core.sleep``,
``core.wait``, ``core.noop``, ``http.request``). The connector framework (a later issue) adds its actions with
``registry.register(action)``; tests build their own with ``ActionRegistry(builtin_actions())``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from automate.errors import UnknownAction, UsageError
from automate.runtime.actions.base import Action, ActionContext, is_pure
from automate.runtime.actions.core import Fail, Log, Noop, Sleep, Transform, Wait
from automate.runtime.actions.http import HttpRequest

__all__ = ["Action", "ActionContext", "ActionRegistry", "UnknownAction", "builtin_actions", "is_pure",
           "registry"]



class ActionRegistry:
    """Action names to actions. Names are unique: registering a taken name is a programming error."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            self.register(action)

    def register(self, action: Action, *, replace: bool = False) -> Action:
        """Add ``action`` under ``action.name``; returns it.

        Raises:
            ValueError: The name is taken and ``replace`` is false.
        """
        if not replace and action.name in self._actions:
            raise UsageError(f"action {action.name!r} is already registered")
        self._actions[action.name] = action
        return action

    def get(self, name: str) -> Action | None:
        """The action called ``name``, or None (workflow validation reports unknown names this way)."""
        return self._actions.get(name)

    def require(self, name: str) -> Action:
        """The action called ``name``.

        Raises:
            UnknownAction: No action has that name (a permanent StepError, code ``action.unknown``).
        """
        action = self._actions.get(name)
        if action is None:
            raise UnknownAction(name)
        return action

    def names(self) -> set[str]:
        return set(self._actions)

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def __iter__(self) -> Iterator[Action]:
        return iter(list(self._actions.values()))

    def __len__(self) -> int:
        return len(self._actions)


def builtin_actions() -> list[Action]:
    """Fresh instances of every built-in action."""
    return [Log(), Transform(), Fail(), Sleep(), Wait(), Noop(), HttpRequest()]


registry = ActionRegistry(builtin_actions())
