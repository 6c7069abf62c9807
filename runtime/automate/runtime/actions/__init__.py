"""Step actions: the :class:`Action` protocol and the registry the runtime looks action names up in.

``registry`` holds the built-ins (``core.log``, ``core.transform``, ``core.fail``, ``core.sleep``,
``core.wait``, ``core.noop``) and every action of every connector the connectors' registry knows
(``http.request``, ``slack.send_message``...; :mod:`automate.runtime.actions.connectors`), looked up
there when first named, so a connector registered later is found too. Tests build their own with
``ActionRegistry(builtin_actions(), connectors=None)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from automate.errors import UnknownAction, UsageError
from automate.runtime.actions.base import Action, ActionContext, is_pure
from automate.runtime.actions.connectors import ConnectorAction
from automate.runtime.actions.core import Fail, Log, Noop, Sleep, Transform, Wait
from automate_connectors.registry import ConnectorRegistry
from automate_connectors.registry import registry as connector_registry

__all__ = ["Action", "ActionContext", "ActionRegistry", "ConnectorAction", "UnknownAction", "builtin_actions",
           "is_pure", "registry"]


class ActionRegistry:
    """Action names to actions, and the connectors' actions by ``<connector>.<action>``. Names are unique:
    registering a taken name is a programming error."""

    def __init__(self, actions: Iterable[Action] = (), *,
                 connectors: ConnectorRegistry | None = connector_registry) -> None:
        self._actions: dict[str, Action] = {}
        self._connectors = connectors
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
        found = self._actions.get(name)
        if found is None and self._connectors is not None:
            connector = self._connectors.find_action(name)
            if connector is not None:
                found = self._actions.setdefault(name, ConnectorAction(*connector))
        return found

    def require(self, name: str) -> Action:
        """The action called ``name``.

        Raises:
            UnknownAction: No action has that name (a permanent StepError, code ``action.unknown``).
        """
        action = self.get(name)
        if action is None:
            raise UnknownAction(name)
        return action

    def names(self) -> set[str]:
        connectors = self._connectors.action_names() if self._connectors is not None else set()
        return set(self._actions) | connectors

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Action]:
        return iter([action for name in sorted(self.names()) if (action := self.get(name)) is not None])

    def __len__(self) -> int:
        return len(self.names())


def builtin_actions() -> list[Action]:
    """Fresh instances of every built-in action."""
    return [Log(), Transform(), Fail(), Sleep(), Wait(), Noop()]


registry = ActionRegistry(builtin_actions())
